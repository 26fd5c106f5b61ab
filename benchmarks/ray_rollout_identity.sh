#!/bin/bash
# Issue 14's level-2 contract on full runs: PPO with backend=local vs backend=ray, W=2 x E=4, 20k steps,
# CartPole-v1 and Pendulum-v1: metrics.jsonl identical except timing keys, eval.json identical.
# Usage (from the repository root): PYTHON=.venv/bin/python bash benchmarks/ray_rollout_identity.sh
OUT=${OUT:-/tmp/rewardlab_ray_identity}
PYTHON=${PYTHON:-python}
mkdir -p "$OUT"
for env in CartPole-v1 Pendulum-v1; do
  for b in local ray; do
    rm -rf $OUT/$env-$b
    "$PYTHON" -m rewardlab.cli train ppo --env $env --total-steps 20000 --seed 0 \
      --set backend=$b --set num_workers=2 --set envs_per_worker=4 --set num_envs=8 --set ray_num_cpus=4 \
      --out $OUT/$env-$b --no-progress > $OUT/$env-$b.log 2>&1
    tail -1 $OUT/$env-$b.log
  done
  cmp -s "$OUT/$env-local/eval.json" "$OUT/$env-ray/eval.json" && echo "$env eval.json identical"
  "$PYTHON" -c "
import sys
from rewardlab.core.run import read_metrics, is_timing_metric
a, b = (read_metrics('$OUT/$env-' + k) for k in ('local', 'ray'))
strip = lambda rows: [{k: v for k, v in r.items() if not is_timing_metric(k)} for r in rows]
print('$env', len(a), 'rows; identical except timing keys:', strip(a) == strip(b), '; last return', a[-1].get('episode_return_mean'))
"
done
