#!/usr/bin/env bash
# GPU conformance in one call (issue 4), for a machine with a CUDA GPU whose Python already
# holds torch and/or jax built for CUDA (such as the workplace's device machine).
#
#     OUT=folder bash benchmarks/gpu_conformance.sh [backend ...]     # default: torch jax
#
# pytest-xdist workers: JOBS_GPU (default 4: processes share the one GPU; JAX is told not to
# preallocate its memory) and JOBS_CPU (default auto) for the CPU baseline.
#
# For each backend: the whole catalogue on `--device gpu`, then on `--device cpu` on the same
# machine (the baseline for the timings), into one store; then the figures: outcomes per
# backend and device, suite and per-case wall time, the slowest cases, and every result that is
# not passed. Writes into $OUT (default reports/gpu): gpu.txt (what nvidia-smi says), one JSON
# and one log per run, gpu.db (the store, for `harness report`), summary.txt.
# The harness's own pure-Python dependencies that such an image lacks (radon, mando,
# GitPython, gitdb, smmap, autograd) are installed from wheels in .whl/ when that folder
# exists (see the device README on carrying wheels). Exit 0 when no run had a failure or error.
set -uo pipefail
out=${OUT:-reports/gpu}
py=${PYTHON:-python3}
backends=("$@")
[ ${#backends[@]} -eq 0 ] && backends=(torch jax)
mkdir -p "$out"
if compgen -G ".whl/*.whl" > /dev/null; then
    "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/harness-site .whl/*.whl || exit 2
    export PYTHONPATH=/tmp/harness-site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export XLA_PYTHON_CLIENT_PREALLOCATE=false  # several workers share the GPU
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 \
    || echo "nvidia-smi: not found"; } > "$out/gpu.txt"
rc=0
for backend in "${backends[@]}"; do
    for device in gpu cpu; do
        start=$(date +%s.%N)
        jobs=${JOBS_CPU:-auto}
        [ "$device" = gpu ] && jobs=${JOBS_GPU:-4}
        "$py" -m harness conform --backend "$backend" --device "$device" -n "$jobs" \
            --json "$out/$backend-$device.json" --store "$out/gpu.db" \
            > "$out/$backend-$device.log" 2>&1
        code=$?
        echo "$backend $device: exit $code in $(awk -v a="$start" -v b="$(date +%s.%N)" \
            'BEGIN { printf "%.1f", b - a }') s" | tee -a "$out/runs.txt"
        [ "$code" -eq 0 ] || rc=1
    done
done
"$py" - "$out" "${backends[@]}" <<'PY' | tee "$out/summary.txt"
import json, statistics, sys
from pathlib import Path

out, backends = Path(sys.argv[1]), sys.argv[2:]
print("GPU:", (out / "gpu.txt").read_text().strip())
for backend in backends:
    for device in ("gpu", "cpu"):
        path = out / f"{backend}-{device}.json"
        if not path.is_file():
            print(f"{backend} {device}: no JSON (see {backend}-{device}.log)")
            continue
        doc = json.loads(path.read_text())
        results = doc["results"]
        counts = {}
        for r in results:
            counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
        seconds = [r["duration_s"] or 0.0 for r in results]
        devices = sorted({r["device"] for r in results})
        print(f"{backend} {device} (recorded as {', '.join(devices)}): "
              + " ".join(f"{k}={v}" for k, v in sorted(counts.items()))
              + f"; checks {sum(seconds):.1f} s, median {statistics.median(seconds) * 1e3:.1f} ms"
              if results else f"{backend} {device}: no result")
        slow = sorted(results, key=lambda r: -(r["duration_s"] or 0.0))[:5]
        for r in slow:
            print(f"    slow: {r['case']}::{r['check']} {r['dtype']} {r['duration_s']:.2f} s")
        others = {}  # (outcome, message) -> results, so that 884 skips are one line
        for r in results:
            if r["outcome"] != "passed":
                others.setdefault((r["outcome"], (r["message"] or "")[:200]), []).append(r)
        for (outcome, message), group in sorted(others.items(), key=lambda kv: -len(kv[1])):
            first = group[0]
            print(f"    {outcome} x{len(group)} (e.g. {first['case']}::{first['check']} "
                  f"{first['dtype']}): {message}")
PY
exit $rc
