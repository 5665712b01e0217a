#!/usr/bin/env bash
# The recipe that produced checkpoints/artrestore-base on 2 CPU threads (each stage resumes if interrupted).
# Usage: scripts/train_base.sh   (logs go to the run folders; expect about 2 hours on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
# 1. autoencoder, on the 8,000-image style set (stride 4, 4 latent channels)
$PY -m artrestore.cli train-vae --source style --out runs/vae_style --steps 600 --warmup 50 --lr 6e-4 \
    --checkpoint-every 100 --ema-decay 0.99
# 2. denoiser + FiLM mask encoder + style encoder: pretrain on the style set ...
$PY -m artrestore.cli train --source style --vae runs/vae_style/final --out runs/diffusion_style --steps 500 \
    --warmup 50 --lr 5e-4 --checkpoint-every 100 --ema-decay 0.995
# 3. ... then train on the artist-labelled training paintings (validation paintings held out)
$PY -m artrestore.cli train --source paintings --init runs/diffusion_style/final --vae runs/vae_style/final \
    --out runs/diffusion_paintings --steps 1600 --warmup 50 --lr 3e-4 --checkpoint-every 100 --ema-decay 0.998
# 4. export the Hub-style folder (memory bank from the training split)
$PY -m artrestore.cli export --run runs/diffusion_paintings --out checkpoints/artrestore-base
