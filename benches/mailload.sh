#!/usr/bin/env bash
# How much mail people get: the example register ticked every day for half a
# year (2026-12-01 .. 2027-05-31) with no evidence recorded, mail written to
# files. Prints the mails per person and month.
#
#   benches/mailload.sh [path/to/iopd]     (default: target/release/iopd)
#
# Run it with an older binary to compare (BENCHMARKS.md, "Mail per person").
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
bin="$(realpath "${1:-$repo/target/release/iopd}")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$repo/config/iopd.example.toml" "$work/iopd.toml"
cd "$work"
export IOPD__DATABASE__URL="sqlite://$work/iopd.db"
export IOPD__MAIL__TRANSPORT=file
export IOPD__MAIL__FILE__DIR="$work/mail-out"
export IOPD__POLICY__TRACKING_START=2026-01-01
"$bin" -c iopd.toml import "$repo/config/example-partnerships.csv" --now 2026-09-01 >/dev/null 2>&1
day=2026-12-01
while [[ "$day" < 2027-06-01 ]]; do
    "$bin" -c iopd.toml tick --now "${day}T08:05" >/dev/null 2>&1
    # Each tick's files, under the tick's day.
    mkdir -p "days/$day"
    find mail-out -name '*.eml' -exec mv {} "days/$day/" \; 2>/dev/null || true
    day=$(date -d "$day + 1 day" +%F)
done
python3 - "$work/days" <<'EOF'
import collections, email, os, sys
root = sys.argv[1]
table = collections.defaultdict(collections.Counter)
total = 0
per_day = collections.Counter()
calendar_day = collections.Counter()
for day in sorted(os.listdir(root)):
    for f in os.listdir(os.path.join(root, day)):
        with open(os.path.join(root, day, f), 'rb') as fh:
            m = email.message_from_binary_file(fh)
        to = m['To'].split('<')[-1].rstrip('>').strip()
        table[to][day[:7]] += 1
        stage = (m['X-IOPD-Key'] or '').split('|')
        # Calendar mails (an invite or a withdrawal) apart from reminders.
        if len(stage) == 4 and stage[2].startswith(('invite-', 'cancel-')):
            calendar_day[(day, to)] += 1
        elif not (m['X-IOPD-Key'] or '').startswith(('digest|', 'heads-up|')):
            per_day[(day, to)] += 1
        total += 1
months = sorted({m for c in table.values() for m in c})
print(f"{total} mails to {len(table)} people, {sum(calendar_day.values())} of them calendar mails; "
      f"at most {max(per_day.values())} reminder mails and {max(calendar_day.values(), default=0)} "
      f"calendar mails to one person on one day")
print("person".ljust(30) + "".join(m.rjust(9) for m in months) + "   mean/month")
for to in sorted(table):
    c = table[to]
    print(to.ljust(30) + "".join(str(c[m]).rjust(9) for m in months)
          + f"{sum(c.values()) / len(months):12.1f}")
EOF
