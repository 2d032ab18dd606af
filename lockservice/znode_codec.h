// The znode commands' fields in bytes and back (command.h has the format):
// command.cpp's encode and decode reach these through argument-dependent
// lookup, as they reach their own put_fields and get_fields.
//
// Internal to lockservice/. Pure; any thread.
#pragma once

#include "base/codec.h"
#include "lockservice/command.h"

namespace synod::lockservice {

void put_fields(Writer& w, const ZnodeCreate& c);
void put_fields(Writer& w, const ZnodeDelete& c);
void put_fields(Writer& w, const ZnodeSetData& c);
void put_fields(Writer& w, const ZnodeCheck& c);
void put_fields(Writer& w, const ZnodeMulti& c);
void put_fields(Writer& w, const ZnodeSetAcl& c);
void put_fields(Writer& w, const ZnodeReapContainer& c);

// Each leaves the Reader failed on bad input; the caller checks once.
void get_fields(Reader& r, ZnodeCreate& c);
void get_fields(Reader& r, ZnodeDelete& c);
void get_fields(Reader& r, ZnodeSetData& c);
void get_fields(Reader& r, ZnodeCheck& c);
void get_fields(Reader& r, ZnodeMulti& c);
void get_fields(Reader& r, ZnodeSetAcl& c);
void get_fields(Reader& r, ZnodeReapContainer& c);

}  // namespace synod::lockservice
