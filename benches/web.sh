#!/usr/bin/env bash
# The pages behind the links in mails, on loopback: requests per second and
# p99 latency of an action page (GET) and of its form (POST, refused by
# validation so it can repeat without writing), each against /healthz on the
# same `iopd run`; and what `[web] listen` adds to the idle RSS.
#
# Run: benches/web.sh (needs wrk: apt-get install wrk; python3 to read the
# link from the mail). IOPD_BIN picks the binary (default: a release build).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
BIN=${IOPD_BIN:-target/release/iopd}
[ -x "$BIN" ] || cargo build --release --locked
BIN=$(realpath "$BIN")
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNS=${CONNS:-32}

dir=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
WEB=$(free_port)
HTTP=$(free_port)
head -c 48 /dev/urandom | base64 > "$dir/secret"
sed -e "s|# public_url = \"https://iop.example.org\"|public_url = \"http://127.0.0.1:$WEB\"|" \
    -e "s|# link_secret_file = \"/run/credentials/iopd.service/link-secret\"|link_secret_file = \"$dir/secret\"|" \
    -e "s|url = \"sqlite://iopd.db\"|url = \"sqlite://$dir/iopd.db\"|" \
    config/iopd.example.toml > "$dir/iopd.toml"
export IOPD__MAIL__FILE__DIR="$dir/mail"
iopd() { "$BIN" --config "$dir/iopd.toml" "$@"; }

iopd import config/example-partnerships.csv --now 2026-09-01 >/dev/null 2>&1
# One tick writes the reminders due then as .eml files; take a link from one.
NOW=2026-11-23T08:05
iopd tick --now "$NOW" >/dev/null 2>&1
LINK=$(python3 - "$dir/mail" <<'EOF'
import email, pathlib, sys
for p in sorted(pathlib.Path(sys.argv[1]).glob("*.eml")):
    m = email.message_from_bytes(p.read_bytes())
    for part in m.walk():
        if part.get_content_type() == "text/plain":
            for line in part.get_payload(decode=True).decode().splitlines():
                if line.strip().startswith("Registrera att det är gjort:"):
                    print(line.split("gjort:", 1)[1].strip())
                    sys.exit(0)
sys.exit("no link in the mails")
EOF
)
PAGE=${LINK#http://127.0.0.1:$WEB}

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
start() {
    "$BIN" --config "$dir/iopd.toml" run --now "$NOW" 2>>"$dir/run.log" >/dev/null &
    pid=$!
    for _ in $(seq 200); do
        curl -fs "http://127.0.0.1:$HTTP/healthz" >/dev/null 2>&1 && break
        sleep 0.05
    done
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }

# Idle RSS without and with the pages (after start-up and the catch-up tick).
export IOPD__HTTP__LISTEN="127.0.0.1:$HTTP"
start; sleep 3; rss_off=$(rss_kb "$pid"); stop
export IOPD__WEB__LISTEN="127.0.0.1:$WEB"
start; sleep 3
curl -fs "http://127.0.0.1:$WEB$PAGE" >/dev/null
sleep 1; rss_on=$(rss_kb "$pid")

TOKEN=$(curl -fs "http://127.0.0.1:$WEB$PAGE" | sed -n 's/.*name="skydd" value="\([^"]*\)".*/\1/p')
cat > "$dir/post.lua" <<EOF
wrk.method = "POST"
wrk.body = "skydd=$TOKEN&datum=2099-01-01"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
EOF
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/x-www-form-urlencoded' \
    --data "skydd=$TOKEN&datum=2099-01-01" "http://127.0.0.1:$WEB$PAGE")
[ "$code" = 422 ] || { echo "the POST answered $code, not 422" >&2; exit 1; }

measure() { # name url [lua]
    local out
    out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency ${3:+-s "$3"} "$2")
    local rps p99
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    printf '%-12s %10s req/s   p99 %s\n' "$1" "$rps" "$p99" >&2
    echo "$rps"
}
echo "wrk -t$THREADS -c$CONNS -d$DURATION on $(nproc) cores" >&2
h=$(measure healthz "http://127.0.0.1:$HTTP/healthz")
g=$(measure "page GET" "http://127.0.0.1:$WEB$PAGE")
p=$(measure "form POST" "http://127.0.0.1:$WEB$PAGE" "$dir/post.lua")
stop
awk -v h="$h" -v g="$g" -v p="$p" 'BEGIN { printf "ratio to /healthz: GET %.2f, POST %.2f\n", g / h, p / h }'
echo "idle RSS: $((rss_off / 1024)) MB without [web] listen, $((rss_on / 1024)) MB with it (+$(((rss_on - rss_off) / 1024)) MB)"
