#!/usr/bin/env bash
# bridge beside docker's own compose loader on one machine, in one run (issue 15): generates a
# compose file of N services (default 10000; the bench generator, `cargo bench --bench parse --
# --emit`, in the variant `docker stack config` accepts: no top-level `name`, `extends` or
# `volumes_from`), then times with hyperfine, alternating on the same file:
#   docker stack config -c FILE            (the docker CLI's Go loader: parse, interpolate, env_file, validate)
#   bridge validate -f FILE                (parse, import, validate, print every diagnostic)
#   bridge render -f FILE -p all -o DIR    (the above plus all four targets written to disk)
# and prints the medians, the peak RSS of each (GNU time) and the ratios bridge / docker.
#
# Usage: scripts/vs-docker-stack-config.sh [N] [RUNS]   (needs docker, hyperfine, jq, GNU time;
# `apt-get install hyperfine jq time` on Debian). Builds bridge in release first.
set -euo pipefail
n=${1:-10000}
runs=${2:-5}
cd "$(dirname "$0")/.."
for tool in docker hyperfine jq /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "missing $tool (Debian: apt-get install hyperfine jq time)" >&2; exit 2; }
done
cargo build --release --locked -q --bin bridge
bridge=$PWD/target/release/bridge
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cargo bench --locked -q --bench parse -- --emit "$work/in" "$n" --stack >/dev/null
file=$work/in/compose.yaml
out=$work/out
echo "input: $n services, $(du -k "$file" | cut -f1) KiB ($file)"
# Both must accept the file, or the timing means nothing.
docker stack config -c "$file" >/dev/null
"$bridge" validate -f "$file" --color never >/dev/null 2>&1 || { "$bridge" validate -f "$file" | tail -5; exit 1; }

# -i: render exits 1 because GCE refuses the named volumes shared by services on several hosts
# (T302); it still translates and writes every target, which is what is timed.
hyperfine --style basic --warmup 1 --runs "$runs" -N -i \
  --export-json "$work/times.json" \
  --prepare "rm -rf $out" \
  -n docker-stack-config "docker stack config -c $file" \
  -n bridge-validate "$bridge validate -f $file --color never" \
  -n bridge-render-all "$bridge render -f $file -p all -o $out --color never" >&2

peak() { /usr/bin/time -f %M "$@" >/dev/null 2>"$work/time.err" || true; tail -n1 "$work/time.err"; }
rm -rf "$out"
declare -A rss
rss[docker-stack-config]=$(peak docker stack config -c "$file")
rss[bridge-validate]=$(peak "$bridge" validate -f "$file" --color never)
rss[bridge-render-all]=$(peak "$bridge" render -f "$file" -p all -o "$out" --color never)

docker_ms=$(jq '.results[] | select(.command == "docker-stack-config") | .median * 1000' "$work/times.json")
printf '%-22s %10s %10s %12s\n' what "median ms" "peak MiB" "x docker"
for name in docker-stack-config bridge-validate bridge-render-all; do
  ms=$(jq ".results[] | select(.command == \"$name\") | .median * 1000" "$work/times.json")
  printf '%-22s %10.0f %10.1f %12.2f\n' "$name" "$ms" "$(echo "${rss[$name]} / 1024" | bc -l)" "$(echo "$ms / $docker_ms" | bc -l)"
done
