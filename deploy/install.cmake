# The unit, the configuration, the state directory and the package's
# documentation, put in place at install time (`cmake --install build`, and
# cpack, which installs with the prefix /usr): their paths follow the prefix of
# the install, not the one the build was configured with.
#
#   prefix /usr (the .deb)        /etc/synod/synod.conf, /var/lib/synod (0700),
#                                 /usr/lib/systemd/system/synod.service, the
#                                 lintian overrides
#   any other (/usr/local)        PREFIX/etc/synod/synod.conf.example (an edited
#                                 synod.conf is never overwritten), the unit in
#                                 PREFIX/lib/systemd/system
#
# The top CMakeLists.txt sets SYNOD_SOURCE_DIR, SYNOD_BINARY_DIR and
# SYNOD_INSTALL_BINDIR before this script runs. Destinations are absolute, so
# file(INSTALL) puts DESTDIR (cpack's staging directory) in front.
set(prefix "${CMAKE_INSTALL_PREFIX}")
if(prefix STREQUAL "/usr")
  set(sysconfdir /etc)
  set(config_name synod.conf)
else()
  set(sysconfdir "${prefix}/etc")
  set(config_name synod.conf.example)
endif()

# Each install gets its own folder for what it generates: a cpack run may
# install while someone runs `cmake --install` from the same build.
string(MD5 staging_key "${prefix}|$ENV{DESTDIR}")
set(staging "${SYNOD_BINARY_DIR}/install-staging/${staging_key}")
file(MAKE_DIRECTORY "${staging}")

set(SYNOD_BINDIR "${prefix}/${SYNOD_INSTALL_BINDIR}")
set(SYNOD_CONFIG_FILE "${sysconfdir}/synod/synod.conf")
configure_file("${SYNOD_SOURCE_DIR}/deploy/synod.service.in" "${staging}/synod.service" @ONLY)

set(readable OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
file(INSTALL "${staging}/synod.service" DESTINATION "${prefix}/lib/systemd/system" PERMISSIONS ${readable})
file(INSTALL "${SYNOD_SOURCE_DIR}/deploy/synod.conf" DESTINATION "${sysconfdir}/synod"
     RENAME ${config_name} PERMISSIONS ${readable})

# Debian wants the changelog compressed, reproducibly (-n: no name, no time).
execute_process(COMMAND gzip -n -9 -c "${SYNOD_SOURCE_DIR}/deploy/debian/changelog"
                OUTPUT_FILE "${staging}/changelog.gz" RESULT_VARIABLE gzip_result)
if(NOT gzip_result EQUAL 0)
  message(FATAL_ERROR "gzip -n -9 deploy/debian/changelog failed: ${gzip_result}")
endif()
file(INSTALL "${SYNOD_SOURCE_DIR}/deploy/debian/copyright" "${staging}/changelog.gz"
     DESTINATION "${prefix}/share/doc/synod" PERMISSIONS ${readable})

if(prefix STREQUAL "/usr")
  # The node's data. The package holds it as root's, 0700; the postinst gives
  # it to the synod user (dpkg cannot name a user the package creates).
  set(state "$ENV{DESTDIR}/var/lib/synod")
  file(MAKE_DIRECTORY "${state}")
  file(CHMOD "${state}" DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE)
  # lintian warns of that mode; the override says why it is meant.
  file(INSTALL "${SYNOD_SOURCE_DIR}/deploy/debian/lintian-overrides" DESTINATION "${prefix}/share/lintian/overrides"
       RENAME synod PERMISSIONS ${readable})
endif()

file(REMOVE_RECURSE "${staging}")
