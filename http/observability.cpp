// GET /metrics, GET / and GET /v1/status (observability.h).
#include "http/observability.h"

#include <nlohmann/json.hpp>

#include "http/request.h"
#include "http/request_credential.h"
#include "http/views.h"

namespace synod::http {

using json = nlohmann::json;
namespace ls = synod::lockservice;

namespace {

// The status page. One document, no external resource: it polls this
// node's own /v1/status every second and draws with inline SVG. Element ids
// and data-* attributes are what test/observability/test_status_page.py
// reads; keep them when changing the look.
constexpr std::string_view kPage = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>synod status</title>
<style>
:root{--bg:#f6f7f9;--card:#fff;--ink:#1d2330;--mute:#6b7385;--line:#e3e6ec;--ok:#1f9d55;--warn:#d97706;--bad:#dc2626;--a:#2563eb;--b:#9333ea;--c:#0891b2}
*{box-sizing:border-box}body{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--ink)}
header{display:flex;flex-wrap:wrap;gap:18px;align-items:baseline;padding:12px 20px;background:#111827;color:#f9fafb}
header h1{font-size:18px;margin:0 8px 0 0}header .k{color:#9ca3af;margin-right:4px}header b{font-weight:600}
.pill{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;background:#374151;color:#fff}
.pill.leader{background:var(--ok)}.pill.candidate{background:var(--warn)}.pill.follower{background:#4b5563}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:14px;padding:14px 20px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 14px;min-width:0}
.card h2{font-size:13px;text-transform:uppercase;letter-spacing:.04em;color:var(--mute);margin:0 0 8px}
.wide{grid-column:1/-1}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{text-align:left;padding:4px 6px;border-bottom:1px solid var(--line);white-space:nowrap}
th{color:var(--mute);font-weight:600}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.dot{display:inline-block;width:9px;height:9px;border-radius:50%;margin-right:5px;background:var(--bad)}.dot.up{background:var(--ok)}
.big{font-size:34px;font-weight:700}.bar{height:10px;background:var(--line);border-radius:5px;overflow:hidden;margin:6px 0}
.bar>div{height:100%;background:var(--ok)}.sub{color:var(--mute);font-size:12px}
.scroll{max-height:260px;overflow:auto}svg{width:100%;display:block}svg text{font:11px system-ui,sans-serif;fill:#6b7385}
.legend span{margin-right:12px;font-size:12px}.legend i{display:inline-block;width:12px;height:3px;vertical-align:middle;margin-right:4px}
#error,#warnings{color:var(--bad);font-weight:600}.counts span{margin-right:16px}
</style></head><body>
<header><h1>synod</h1>
<span><span class="k">node</span><b id="self">?</b> <span id="role" class="pill">?</span></span>
<span><span class="k">leader</span><b id="leader">?</b></span>
<span><span class="k">ballot</span><b id="ballot">?</b></span>
<span><span class="k">commit index</span><b id="commit">?</b></span>
<span><span class="k">updated</span><span id="updated">never</span></span>
<span id="error"></span><span id="warnings"></span></header>
<main>
<section class="card"><h2>Quorum health</h2>
<div><span class="big" id="quorum">?</span> <span class="sub" id="quorum-note"></span></div>
<div class="bar"><div id="quorum-bar" style="width:0"></div></div>
<div class="sub" id="lease"></div></section>
<section class="card"><h2>Members <span class="sub" id="change"></span></h2><table id="members"><thead><tr><th>node</th><th>client</th><th>role</th><th>link</th>
<th class="num">lag (slots)</th><th class="num">last heard</th></tr></thead><tbody></tbody></table></section>
<section class="card wide"><h2>Elections (last 10 minutes)</h2>
<svg id="timeline" viewBox="0 0 1000 74" height="74"></svg>
<div class="scroll"><table id="elections"><thead><tr><th>ended</th><th>kind</th><th>outcome</th><th class="num">duration</th>
<th>leader</th><th class="num">ballot</th><th>reason</th></tr></thead><tbody></tbody></table></div></section>
<section class="card"><h2>Commit latency (proposal to chosen, per 10 s)</h2>
<svg id="chart-commit" viewBox="0 0 500 200" height="200"></svg><div class="legend" id="legend-commit"></div></section>
<section class="card"><h2>Heartbeat interval (jitter, per 10 s)</h2>
<svg id="chart-heartbeat" viewBox="0 0 500 200" height="200"></svg><div class="legend" id="legend-heartbeat"></div></section>
<section class="card wide"><h2>Lock service</h2><div class="counts" id="counts"></div></section>
<section class="card"><h2>Sessions</h2><div class="scroll"><table id="sessions"><thead><tr><th>session</th><th class="num">ttl</th>
<th class="num">valid for</th><th>behavior</th><th>locks</th></tr></thead><tbody></tbody></table></div></section>
<section class="card"><h2>Locks</h2><div class="scroll"><table id="locks"><thead><tr><th>lock</th><th>kind</th><th>holder</th>
<th class="num">token</th><th>waiters</th></tr></thead><tbody></tbody></table></div></section>
<section class="card"><h2>Service elections</h2><div class="scroll"><table id="service-elections"><thead><tr><th>election</th>
<th>leader session</th><th class="num">token</th><th>value</th><th class="num">candidates</th></tr></thead><tbody></tbody></table></div></section>
<section class="card wide"><h2>Memory</h2><div class="counts" id="memory"></div></section>
<section class="card"><h2>This node</h2><div id="node-facts" class="sub"></div>
<p class="sub">Raw data: <a href="/metrics">/metrics</a> · <a href="/v1/status">/v1/status</a> · <a href="/v1/cluster">/v1/cluster</a></p></section>
</main>
<script>
"use strict";
const $=id=>document.getElementById(id);
const esc=s=>String(s).replace(/[&<>"']/g,c=>({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c]));
const ms=v=>v==null?"–":v<1?v.toFixed(2)+" ms":v<10?v.toFixed(1)+" ms":v<1000?Math.round(v)+" ms":(v/1000).toFixed(1)+" s";
const nice=v=>{const p=Math.pow(10,Math.floor(Math.log10(v)));for(const m of[1,2,2.5,5,10])if(m*p>=v)return m*p;return 10*p;};
const ago=v=>v==null||v<0?"never":ms(v)+" ago";
const clock=t=>new Date(t).toLocaleTimeString();
function rows(id,html){$(id).querySelector("tbody").innerHTML=html.join("")||'<tr><td colspan="9" class="sub">none</td></tr>';}
function header(s){
  $("self").textContent=s.self;const r=$("role");r.textContent=s.role;r.className="pill "+s.role;
  $("leader").textContent=s.leader?("node "+s.leader+(s.leader===s.self?" (this node)":"")):"none";
  $("leader").dataset.leader=s.leader||0;
  $("ballot").textContent=s.ballot.round+"."+s.ballot.node;$("commit").textContent=s.commit_index;
  $("updated").textContent=clock(s.now_unix_ms);
  $("warnings").textContent=(s.security&&s.security.warnings||[]).join(" · ");
}
function quorum(s){
  const lead=s.role==="leader";const q=lead?s.quorum_health_ratio:null;
  $("quorum").textContent=q==null?"–":Math.round(q*100)+"%";$("quorum").dataset.ratio=q==null?"":q;
  const b=$("quorum-bar");b.style.width=(q==null?0:q*100)+"%";b.style.background=q==null?"":q>0.5?"var(--ok)":"var(--bad)";
  $("quorum-note").textContent=lead?"of voting members heard within the "+s.timing.lease_ms+" ms lease":
    "measured by the leader; open node "+(s.leader||"?")+"'s page for it";
  $("lease").textContent=(s.has_leader?"has a leader":"NO LEADER")+" · lease "+(s.lease_valid?"valid":"not held")+
    " · sees quorum: "+(s.sees_quorum?"yes":"no")+" · voting: "+(s.voting?"yes":"no (repairing)");
}
function members(s){
  $("change").textContent=s.change_in_progress?"· a membership change is in progress":"";
  rows("members",s.members.map(m=>{const lead=m.id===s.leader;
    return '<tr data-member="'+m.id+'" data-role="'+m.member_role+'" data-up="'+(m.up?1:0)+'"'+(lead?' data-leader="1"':'')+'><td><b>'+m.id+'</b>'+(m.self?" (this)":"")+
      '</td><td><a href="http://'+esc(m.client_addr)+'/">'+esc(m.client_addr)+'</a></td><td>'+(lead?'<span class="pill leader">leader</span>':m.member_role==="learner"?"learner":"follower")+
      '</td><td><span class="dot'+(m.up?" up":"")+'"></span>'+(m.self?"self":m.up?(m.heard_within_lease?"up":"up, quiet"):"down")+
      '</td><td class="num">'+(m.lag_slots==null?"–":m.lag_slots)+'</td><td class="num">'+(m.self?"–":ago(m.last_contact_ms))+'</td></tr>';}));
}
function timeline(s){
  const svg=$("timeline"),W=Math.max(400,Math.round(svg.getBoundingClientRect().width)||1000),now=s.now_unix_ms,from=now-600000,
    x=t=>Math.max(1,Math.min(W-1,(t-from)/600000*W));
  svg.setAttribute("viewBox","0 0 "+W+" 74");
  let g='<line x1="0" y1="44" x2="'+W+'" y2="44" stroke="#e3e6ec"/>',row=0;
  for(let m=0;m<=10;m+=2)g+='<text x="'+x(from+m*60000)+'" y="70" text-anchor="'+(m===0?"start":m===10?"end":"middle")+'">'+(m===10?"now":"-"+(10-m)+" min")+'</text>';
  for(const e of s.elections){
    if(e.ended_unix_ms<from)continue;
    if(e.kind==="leader_change"){const x0=x(e.started_unix_ms),x1=Math.max(x(e.ended_unix_ms),x0+3),ty=row++%2?12:24,right=x1>W-160;
      g+='<g class="election" data-leader-after="'+e.leader_after+'" data-leader-before="'+e.leader_before+'" data-duration-ms="'+e.duration_ms+'">'+
        '<rect x="'+x0+'" y="32" width="'+(x1-x0)+'" height="22" fill="#dc2626" opacity=".75"><title>'+esc(e.reason)+'</title></rect>'+
        '<text x="'+(right?x1:x0)+'" y="'+ty+'" text-anchor="'+(right?"end":"start")+'">'+ms(e.duration_ms)+' → node '+e.leader_after+'</text></g>';}
    else{const xc=x(e.ended_unix_ms);g+='<path class="candidacy" d="M'+xc+' 56 l4 7 h-8z" fill="'+(e.outcome==="won"?"#1f9d55":"#d97706")+'"><title>candidacy '+esc(e.outcome)+': '+esc(e.reason)+'</title></path>';}
  }
  svg.innerHTML=g;
  rows("elections",s.elections.slice().reverse().map(e=>'<tr data-kind="'+e.kind+'"><td>'+clock(e.ended_unix_ms)+'</td><td>'+e.kind.replace("_"," ")+
    '</td><td>'+esc(e.outcome)+'</td><td class="num">'+ms(e.duration_ms)+'</td><td>'+(e.leader_before||"–")+" → "+(e.leader_after||"–")+
    '</td><td class="num">'+e.ballot_round+'</td><td>'+esc(e.reason)+'</td></tr>'));
}
function chart(id,legend,series,ref,now){
  const W=500,H=200,L=44,R=8,T=8,B=22,from=now-600000;let max=ref||0,points=0;
  for(const se of series)for(const p of se.pts)if(p[1]!=null)max=Math.max(max,p[1]);
  max=nice(max>0?max*1.1:1);const x=t=>L+(t-from)/600000*(W-L-R),y=v=>T+(1-v/max)*(H-T-B);
  const m=max/Math.pow(10,Math.floor(Math.log10(max))),n=m===2.5||m===5?5:4;
  let g="";for(let i=0;i<=n;i++){const v=max*i/n;g+='<line x1="'+L+'" x2="'+(W-R)+'" y1="'+y(v)+'" y2="'+y(v)+'" stroke="#eef0f4"/><text x="2" y="'+(y(v)+4)+'">'+ms(v)+'</text>';}
  for(let m=0;m<=10;m+=2)g+='<text x="'+(x(from+m*60000)-12)+'" y="'+(H-6)+'">'+(m===10?"now":"-"+(10-m)+"m")+'</text>';
  if(ref)g+='<line x1="'+L+'" x2="'+(W-R)+'" y1="'+y(ref)+'" y2="'+y(ref)+'" stroke="#9ca3af" stroke-dasharray="4 3"/>';
  for(const se of series){const pts=se.pts.filter(p=>p[1]!=null&&p[0]>=from);points+=pts.length;if(!pts.length)continue;
    g+='<polyline class="series" data-name="'+se.name+'" fill="none" stroke="'+se.color+'" stroke-width="2" points="'+pts.map(p=>x(p[0]).toFixed(1)+","+y(p[1]).toFixed(1)).join(" ")+'"/>';
    for(const p of pts)g+='<circle cx="'+x(p[0]).toFixed(1)+'" cy="'+y(p[1]).toFixed(1)+'" r="2.5" fill="'+se.color+'"/>';}
  if(!points)g+='<text x="'+(L+20)+'" y="'+(H/2)+'">no data in the last 10 minutes on this node</text>';
  const svg=$(id);svg.innerHTML=g;svg.dataset.points=points;
  $(legend).innerHTML=series.map(se=>'<span><i style="background:'+se.color+'"></i>'+esc(se.label)+'</span>').join("")+(ref?'<span><i style="background:#9ca3af"></i>configured '+ms(ref)+'</span>':"");
}
function charts(s){
  const w=s.windows,t=e=>e.end_unix_ms;
  chart("chart-commit","legend-commit",[{name:"p50",label:"p50",color:"#2563eb",pts:w.map(e=>[t(e),e.commit_p50_ms])},
    {name:"p99",label:"p99",color:"#dc2626",pts:w.map(e=>[t(e),e.commit_p99_ms])}],0,s.now_unix_ms);
  chart("chart-heartbeat","legend-heartbeat",[{name:"p50",label:"received p50",color:"#2563eb",pts:w.map(e=>[t(e),e.heartbeat_p50_ms])},
    {name:"p99",label:"received p99",color:"#dc2626",pts:w.map(e=>[t(e),e.heartbeat_p99_ms])},
    {name:"max",label:"received max",color:"#9333ea",pts:w.map(e=>[t(e),e.heartbeat_max_ms])},
    {name:"sent_p99",label:"sent p99 (leader)",color:"#0891b2",pts:w.map(e=>[t(e),e.heartbeat_sent_p99_ms])}],s.timing.heartbeat_ms,s.now_unix_ms);
}
function service(s){
  const c=s.service.counts;
  $("counts").innerHTML=["sessions","locks","waiters","keys","elections"].map(k=>'<span>'+k+' <b id="count-'+k+'">'+c[k]+'</b></span>').join("")+
    '<span>watchers <b>'+(s.service.watchers==null?"–":s.service.watchers)+'</b></span>'+(s.service.truncated?'<span class="sub">(tables show the first rows)</span>':"");
  rows("sessions",s.service.sessions.map(x=>'<tr><td>'+esc(x.id)+'</td><td class="num">'+ms(x.ttl_ms)+'</td><td class="num">'+ms(x.valid_for_ms)+
    '</td><td>'+x.behavior+'</td><td>'+esc(x.locks.join(", "))+'</td></tr>'));
  rows("locks",s.service.locks.map(l=>'<tr><td>'+esc(l.name)+'</td><td>'+l.kind+'</td><td>'+(l.holders.map(h=>esc(h.session)).join(", ")||"–")+
    '</td><td class="num">'+(l.holders.map(h=>h.token).join(", ")||"–")+'</td><td>'+(l.waiters.map(w=>esc(w.session)).join(", ")||"–")+'</td></tr>'));
  rows("service-elections",s.service.elections.map(e=>'<tr><td>'+esc(e.name)+'</td><td>'+(e.leader?esc(e.leader):"none")+'</td><td class="num">'+
    (e.token||"–")+'</td><td>'+esc(e.value)+'</td><td class="num">'+e.candidates+'</td></tr>'));
}
function memory(s){
  const m=s.memory,mib=v=>(v/1048576).toFixed(1)+" MiB";
  const items=[["heap live",mib(m.heap_live_bytes)],["heap free (kept by malloc)",mib(m.heap_free_bytes)],
    ["log cache",m.log_cache_slots+" slots, "+mib(m.log_cache_bytes)],["exactly-once table",m.dedup_entries],
    ["watch window",m.watch_events+" events, "+mib(m.watch_event_bytes)],["key store",mib(m.store_bytes)],
    ["sessions",m.sessions],["lock waiters",m.lock_waiters],["proposals waiting",m.proposals_waiting],
    ["forwards waiting",m.forwards_waiting],["reads waiting",m.reads_waiting]];
  $("memory").innerHTML=items.map(([k,v])=>'<span>'+k+' <b>'+v+'</b></span>').join("");
}
function facts(s){
  $("node-facts").innerHTML="up since "+new Date(s.started_unix_ms).toLocaleString()+" · applied revision "+s.applied_revision+
    " · elections started here "+s.elections_started+" · leader changes seen "+s.leader_changes+
    "<br>heartbeat "+s.timing.heartbeat_ms+" ms · lease "+s.timing.lease_ms+" ms · election timeout "+s.timing.election_timeout_min_ms+"–"+s.timing.election_timeout_max_ms+" ms"+
    "<br>log since snapshot "+s.storage.log_slots_since_snapshot+" slots (snapshot at slot "+s.storage.snapshot_slot+")"+
    (s.metrics_enabled?"":"<br><b>metric recording is off (--metrics false): latency charts stay empty</b>");
}
function render(s){header(s);quorum(s);members(s);timeline(s);charts(s);service(s);memory(s);facts(s);document.body.dataset.rendered=s.now_unix_ms;}
async function poll(){
  try{const r=await fetch("/v1/status",{cache:"no-store"});if(!r.ok)throw new Error("HTTP "+r.status);render(await r.json());$("error").textContent="";}
  catch(e){$("error").textContent="cannot reach this node: "+e.message;}
  setTimeout(poll,1000);
}
poll();
</script></body></html>
)HTML";
// -Wpedantic warns past 65536 characters (the length C++ compilers must
// support); stay well within.
static_assert(kPage.size() < 60'000);

json ms_or_null(double v) { return v < 0 ? json(nullptr) : json(v); }

const char* behavior_name(ls::Behavior behavior) { return behavior == ls::Behavior::release ? "release" : "delete"; }

json members_json(const StatusSnapshot& s) {
  json members = json::array();
  for (const auto& m : s.cluster.members) {
    const bool learner = std::find(s.cluster.learners.begin(), s.cluster.learners.end(), m.id) !=
                         s.cluster.learners.end();
    json member = {{"id", m.id},
                   {"member_role", learner ? "learner" : "voter"},
                   {"client_addr", m.client_addr},
                   {"peer_addr", m.peer_addr},
                   {"self", m.self},
                   {"leader", m.id == s.cluster.leader},
                   {"chosen_through", m.chosen_through},
                   {"last_contact_ms", m.last_contact_ms < 0 ? json(nullptr) : json(m.last_contact_ms)},
                   {"up", m.self || m.connected},
                   {"heard_within_lease", m.self},
                   {"lag_slots", nullptr}};
    for (const auto& p : s.peers) {
      if (p.id != m.id) continue;
      member["up"] = p.up;
      member["heard_within_lease"] = p.heard_within_lease;
      if (p.last_contact_ms >= 0) member["last_contact_ms"] = p.last_contact_ms;
      if (p.lag_slots >= 0) member["lag_slots"] = p.lag_slots;
    }
    members.push_back(std::move(member));
  }
  return members;
}

json windows_json(const StatusSnapshot& s) {
  json windows = json::array();
  for (const auto& w : s.windows) {
    windows.push_back({{"end_unix_ms", w.end_unix_ms},
                       {"open", w.open},
                       {"commits", w.commits},
                       {"commit_p50_ms", ms_or_null(w.commit_p50_ms)},
                       {"commit_p99_ms", ms_or_null(w.commit_p99_ms)},
                       {"heartbeats_received", w.heartbeats_received},
                       {"heartbeat_p50_ms", ms_or_null(w.heartbeat_p50_ms)},
                       {"heartbeat_p99_ms", ms_or_null(w.heartbeat_p99_ms)},
                       {"heartbeat_max_ms", ms_or_null(w.heartbeat_max_ms)},
                       {"heartbeats_sent", w.heartbeats_sent},
                       {"heartbeat_sent_p99_ms", ms_or_null(w.heartbeat_sent_p99_ms)}});
  }
  return windows;
}

json elections_json(const StatusSnapshot& s) {
  json elections = json::array();
  for (const auto& e : s.elections) {
    elections.push_back({{"kind", e.kind},
                         {"outcome", e.outcome},
                         {"started_unix_ms", e.started_unix_ms},
                         {"ended_unix_ms", e.ended_unix_ms},
                         {"duration_ms", e.duration_ms},
                         {"leader_before", e.leader_before},
                         {"leader_after", e.leader_after},
                         {"ballot_round", e.ballot_round},
                         {"reason", e.reason}});
  }
  return elections;
}

json service_json(const StatusSnapshot& s) {
  json sessions = json::array();
  for (const auto& v : s.sessions) {
    sessions.push_back({{"id", std::to_string(v.id)},
                        {"ttl_ms", v.ttl_ms},
                        {"lock_delay_ms", v.lock_delay_ms},
                        {"behavior", behavior_name(v.behavior)},
                        {"valid_for_ms", v.valid_for_ms},
                        {"locks", v.locks},
                        {"elections", v.elections},
                        {"waits", v.waits},
                        {"ephemeral_keys", v.ephemeral_keys}});
  }
  json locks = json::array();
  for (const auto& l : s.locks) {
    json holders = json::array(), waiters = json::array();
    for (const auto& h : l.holders) {
      holders.push_back({{"session", std::to_string(h.session)}, {"token", h.token}, {"access", access_name(h.access)}});
    }
    for (const auto& w : l.waiters) {
      waiters.push_back({{"session", std::to_string(w.session)}, {"access", access_name(w.access)}});
    }
    locks.push_back({{"name", l.name},
                     {"kind", lock_kind_name(l.kind)},
                     {"limit", l.limit},
                     {"holders", holders},
                     {"waiters", waiters},
                     {"delay_until_log_ms", l.delay_until_log_ms}});
  }
  json elections = json::array();
  for (const auto& e : s.service_elections) {
    elections.push_back({{"name", e.name},
                         {"leader", e.leader == ls::kNoSession ? json(nullptr) : json(std::to_string(e.leader))},
                         {"token", e.token},
                         {"value", e.value},
                         {"candidates", e.candidates.size()}});
  }
  const auto& c = s.counts;
  return {{"counts",
           {{"sessions", c.sessions}, {"locks", c.locks}, {"waiters", c.waiters}, {"keys", c.keys},
            {"elections", c.elections}}},
          {"watchers", s.watchers < 0 ? json(nullptr) : json(s.watchers)},
          {"sessions", sessions},
          {"locks", locks},
          {"elections", elections},
          {"truncated", s.tables_truncated}};
}

json memory_json(const MemoryUse& m) {
  return {{"heap_live_bytes", m.heap_live_bytes},     {"heap_free_bytes", m.heap_free_bytes},
          {"log_cache_slots", m.log_cache_slots},     {"log_cache_bytes", m.log_cache_bytes},
          {"dedup_entries", m.dedup_entries},         {"watch_events", m.watch_events},
          {"watch_event_bytes", m.watch_event_bytes}, {"store_bytes", m.store_bytes},
          {"sessions", m.sessions},                   {"lock_waiters", m.lock_waiters},
          {"proposals_waiting", m.proposals_waiting}, {"forwards_waiting", m.forwards_waiting},
          {"reads_waiting", m.reads_waiting}};
}

Response text_response(int status, std::string content_type, std::string body) {
  Response response;
  response.status = status;
  response.content_type = std::move(content_type);
  response.body = std::move(body);
  response.headers.push_back(Header{"cache-control", "no-store"});
  return response;
}

}  // namespace

std::string_view status_page_html() { return kPage; }

std::string status_json(const StatusSnapshot& s) {
  const ClusterView& c = s.cluster;
  json body = {{"self", c.self},
               {"role", role_name(c.role)},
               {"leader", c.leader},
               {"has_leader", s.has_leader},
               {"ballot", {{"round", c.ballot_round}, {"node", c.ballot_node}}},
               {"commit_index", c.commit_index},
               {"leader_commit_index", c.leader_commit_index},
               {"applied_revision", c.applied_revision},
               {"serving", c.serving},
               {"voting", c.voting},
               {"sees_quorum", c.sees_quorum},
               {"lease_valid", c.lease_valid},
               {"last_leader_contact_ms",
                c.last_leader_contact_ms < 0 ? json(nullptr) : json(c.last_leader_contact_ms)},
               {"quorum_health_ratio", s.quorum_health_ratio},
               {"members", members_json(s)},
               {"change_in_progress", s.cluster.change_in_progress},
               {"timing",
                {{"heartbeat_ms", s.heartbeat_ms},
                 {"lease_ms", s.lease_ms},
                 {"election_timeout_min_ms", s.election_timeout_min_ms},
                 {"election_timeout_max_ms", s.election_timeout_max_ms}}},
               {"now_unix_ms", s.now_unix_ms},
               {"started_unix_ms", s.started_unix_ms},
               {"metrics_enabled", s.metrics_enabled},
               {"window_seconds", s.window_seconds},
               {"windows", windows_json(s)},
               {"elections", elections_json(s)},
               {"elections_started", s.elections_started},
               {"leader_changes", s.leader_changes},
               {"service", service_json(s)},
               {"storage",
                {{"snapshot_slot", s.snapshot_slot}, {"log_slots_since_snapshot", s.log_slots_since_snapshot}}},
               {"memory", memory_json(s.memory)},
               {"security", {{"tls", s.tls}, {"warnings", s.warnings}}}};
  // Names and values are the lock service's (UTF-8 is not enforced there):
  // replace what is not UTF-8 rather than throw.
  return body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

bool serve_observability(const Request& request, Responder& respond, ObservabilityApi& node) {
  const std::string_view path = request.path;
  if (path != "/" && path != "/metrics" && path != "/v1/status") return false;
  if (request.method != "GET") {
    Response refused = text_response(405, "application/json",
                                     R"({"error":{"code":"method_not_allowed","message":"only GET","retryable":false}})"
                                     "\n");
    refused.headers.push_back(Header{"allow", "GET"});
    respond(std::move(refused));
    return true;
  }
  if (path == "/") {
    respond(text_response(200, "text/html; charset=utf-8", std::string(kPage)));
  } else if (path == "/metrics") {
    node.metrics_text([respond = std::move(respond)](std::string text) mutable {
      respond(text_response(200, std::string(kMetricsContentType), std::move(text)));
    });
  } else {
    PresentedCredential presented = presented_credential(request);
    if (!presented.ok) {
      respond(views::error_body(401, "bad_authorization", presented.why));
      return true;
    }
    node.status(std::move(presented.credential),
                [respond = std::move(respond)](const StatusSnapshot* status, const StatusDenial* denial) mutable {
                  if (denial != nullptr) return respond(views::error_body(denial->status, denial->code, denial->why));
                  respond(text_response(200, "application/json", status_json(*status)));
                });
  }
  return true;
}

}  // namespace synod::http
