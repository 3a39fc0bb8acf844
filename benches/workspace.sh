#!/usr/bin/env bash
# The coordinator's workspace at national scale, on loopback: 100 000
# synthetic partnerships, requests per second and p99 latency of the
# overview (worst first, with its counts), a page deep in it, a filtered
# list, a list filtered by checkpoint kind and status, one partnership's
# page, a record POST (refused by validation, so it can repeat without
# writing), the committees' page and one committee's plan, each next to
# /healthz on the same `iopd run`; and what the workspace adds to the idle RSS.
#
# Run: benches/workspace.sh (needs wrk: apt-get install wrk). N sets the
# number of partnerships (default 100000); IOPD_BIN picks the binary
# (default: a release build).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
BIN=${IOPD_BIN:-target/release/iopd}
[ -x "$BIN" ] || cargo build --release --locked
BIN=$(realpath "$BIN")
N=${N:-100000}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNS=${CONNS:-16}

dir=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
WEB=$(free_port)
HTTP=$(free_port)
head -c 48 /dev/urandom | base64 > "$dir/secret"
# The benchmarks' configuration (benches/common.rs): the example with 50
# committees of ten meetings a year; the pages on, mail off.
python3 - "$dir/iopd.toml" "$WEB" "$dir" <<'PY'
import sys
path, web, d = sys.argv[1:]
toml = open("config/iopd.example.toml", encoding="utf-8").read()
toml = toml.replace('# tracking_start = "2026-12-01"', 'tracking_start = "2026-10-20"')
toml = toml.replace('# public_url = "https://iop.example.org"', f'public_url = "http://127.0.0.1:{web}"')
toml = toml.replace('# link_secret_file = "/run/credentials/iopd.service/link-secret"', f'link_secret_file = "{d}/secret"')
toml = toml.replace('url = "sqlite://iopd.db"', f'url = "sqlite://{d}/iopd.db"')
meetings = ", ".join(f'"{y}-{m:02}-14"' for y in range(2015, 2031) for m in [1,2,3,4,5,6,9,10,11,12])
for i in range(48):
    toml += f'\n[committees.c{i:02}]\nname = "Nämnd {i}"\nsecretary_email = "sekr{i}@example.org"\nsubmission_days = 21\nmeetings = [{meetings}]\n'
open(path, "w", encoding="utf-8").write(toml)
PY
export IOPD__MAIL__ENABLED=false RUST_LOG=warn
NOW=2026-11-02T10:00
iopd() { "$BIN" --config "$dir/iopd.toml" "$@"; }
iopd synth --partnerships "$N" --now 2026-11-01 >/dev/null
# The evaluations the service keeps, so its first tick has nothing to catch up.
iopd tick --now "$NOW" >/dev/null 2>&1

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
export IOPD__HTTP__LISTEN="127.0.0.1:$HTTP" IOPD__WEB__LISTEN="127.0.0.1:$WEB"
"$BIN" --config "$dir/iopd.toml" run --now "$NOW" 2>>"$dir/run.log" >/dev/null &
pid=$!
for _ in $(seq 600); do
    curl -fs "http://127.0.0.1:$HTTP/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
# Past the service's first tick.
sleep 10
rss_idle=$(rss_kb "$pid")

# Signed in as IOP-ansvarig with a one-time link.
LINK=$(iopd admin-link --email iop-ansvarig@example.org --role coordinator --now "$NOW" | tail -1)
COOKIE=$(curl -s -o /dev/null -D - -X POST "$LINK" | sed -n 's/^[Ss]et-[Cc]ookie: \(__Host-iopd=[^;]*\).*/\1/p')
[ -n "$COOKIE" ] || { echo "no session from the one-time link" >&2; exit 1; }
get() { curl -fs -H "Cookie: $COOKIE" "http://127.0.0.1:$WEB$1"; }
ID="SYN/2022:000007"
KEY=$(get "/arbetsyta/partnerskap?id=SYN%2F2022%3A000007" | sed -n 's/.*registrera?key=\([^"]*\)".*/\1/p' | head -1)
[ -n "$KEY" ] || { echo "no open checkpoint on $ID's page" >&2; exit 1; }
PAGE="/arbetsyta/partnerskap?id=SYN%2F2022%3A000007"
FILTER="/arbetsyta?namnd=c07&sok=17"
KINDS="/arbetsyta?typ=checkin&status=overdue"
DEEP="/arbetsyta?sida=1000"
get "/arbetsyta" >/dev/null; get "$FILTER" >/dev/null; get "$KINDS" >/dev/null; get "$DEEP" >/dev/null
TOKEN=$(get "/arbetsyta/registrera?key=$KEY" | sed -n 's/.*name="skydd" value="\([^"]*\)".*/\1/p' | head -1)
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Cookie: $COOKIE" \
    -H 'Content-Type: application/x-www-form-urlencoded' \
    --data "skydd=$TOKEN&datum=2099-01-01&diarienummer=&sammantrade=annat&annat_datum=" \
    "http://127.0.0.1:$WEB/arbetsyta/registrera?key=$KEY")
[ "$code" = 422 ] || { echo "the record POST answered $code, not 422" >&2; exit 1; }

cat > "$dir/get.lua" <<EOF
wrk.headers["Cookie"] = "$COOKIE"
EOF
cat > "$dir/post.lua" <<EOF
wrk.method = "POST"
wrk.body = "skydd=$TOKEN&datum=2099-01-01&diarienummer=&sammantrade=annat&annat_datum="
wrk.headers["Cookie"] = "$COOKIE"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
EOF
measure() { # name url [lua]
    local out rps p99
    out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency ${3:+-s "$3"} "$2")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    printf '%-16s %10s req/s   p99 %s\n' "$1" "$rps" "$p99" >&2
    echo "$rps"
}
echo "$N partnerships; wrk -t$THREADS -c$CONNS -d$DURATION on $(nproc) cores" >&2
h=$(measure healthz "http://127.0.0.1:$HTTP/healthz")
o=$(measure overview "http://127.0.0.1:$WEB/arbetsyta" "$dir/get.lua")
d=$(measure "page 1000" "http://127.0.0.1:$WEB$DEEP" "$dir/get.lua")
f=$(measure "filtered list" "http://127.0.0.1:$WEB$FILTER" "$dir/get.lua")
k=$(measure "kind and status" "http://127.0.0.1:$WEB$KINDS" "$dir/get.lua")
p=$(measure partnership "http://127.0.0.1:$WEB$PAGE" "$dir/get.lua")
r=$(measure "record POST" "http://127.0.0.1:$WEB/arbetsyta/registrera?key=$KEY" "$dir/post.lua")
n=$(measure "committees" "http://127.0.0.1:$WEB/arbetsyta/namnder" "$dir/get.lua")
c=$(measure "one plan" "http://127.0.0.1:$WEB/arbetsyta/namnd?key=c07" "$dir/get.lua")
sleep 2
rss_used=$(rss_kb "$pid")
awk -v h="$h" -v o="$o" -v d="$d" -v f="$f" -v k="$k" -v p="$p" -v r="$r" -v n="$n" -v c="$c" 'BEGIN {
    printf "ratio to /healthz: overview %.3f, page 1000 %.3f, filtered %.3f, kind and status %.3f, partnership %.3f, record POST %.3f, committees %.3f, one plan %.3f\n", o / h, d / h, f / h, k / h, p / h, r / h, n / h, c / h }'
echo "RSS: $((rss_idle / 1024)) MB idle before the workspace is used, $((rss_used / 1024)) MB idle after the runs above ($(((rss_used - rss_idle) / 1024)) MB added)"
