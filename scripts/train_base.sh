#!/usr/bin/env bash
# The recipe that produced checkpoints/artrestore-base on 2 CPU threads (each stage resumes if interrupted).
# Usage: scripts/train_base.sh   (logs go to the run folders; expect about 10 h on 2 cores)
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
# 4. teach cross-attention to look retrieved patches up by content (half the samples get their own clean quadrants
#    among the retrieved tokens, in shuffled slots); the style encoder stays fixed so the memory bank is unchanged
$PY -m artrestore.cli train --source paintings --init runs/diffusion_paintings/final --vae runs/vae_style/final \
    --out runs/diffusion_lookup --steps 1000 --warmup 30 --lr 2e-4 --checkpoint-every 100 --ema-decay 0.995 \
    --oracle-retrieval 0.5 --freeze-style
# 4b. split every retrieved patch into 4x4 cell tokens (local content + cell position) and add holes of 30-60 % of
#     the crop that the context cannot explain, so the denoiser has a reason to read particular patches
$PY -m artrestore.cli train --source paintings --init runs/diffusion_lookup/final --vae runs/vae_style/final \
    --out runs/diffusion_cells --steps 1500 --warmup 50 --lr 3e-4 --checkpoint-every 100 --ema-decay 0.995 \
    --retrieval-cells 4 --large-holes 0.5 --oracle-retrieval 0.5 --freeze-style
# 5. the style certificate: VGG statistics of 16 patches per painting, 4 metric-learning heads, conformal thresholds
$PY -m artrestore.cli train-certifier --out runs/certifier
# 6. the damage detector: simulated damage on 256 px multi-scale crops plus 35 % real craquelure close-ups, then three
#    fine-tunes with 60 % and 70 % real close-ups, then its thresholds and type weights tuned on fresh damage of
#    training paintings and the training close-ups (never the validation split). These stages were trained with the
#    L1 fading term (`--fade-loss l1`), which collapsed to "no fading"; calibration then switches fading off.
$PY -m artrestore.cli train-detector --out runs/detector_v2 --steps 4000 --crop 256 --real-share 0.35 \
    --checkpoint-every 250 --fade-loss l1
$PY -m artrestore.cli train-detector --init runs/detector_v2/final --out runs/detector_v2_real --steps 1000 \
    --warmup 50 --lr 5e-4 --crop 256 --real-share 0.6 --checkpoint-every 250 --fade-loss l1
$PY -m artrestore.cli train-detector --init runs/detector_v2_real/final --out runs/detector_v2_real2 --steps 1500 \
    --warmup 50 --lr 3e-4 --crop 256 --real-share 0.7 --checkpoint-every 250 --fade-loss l1
$PY -m artrestore.cli train-detector --init runs/detector_v2_real2/final --out runs/detector_v2_real3 --steps 1500 \
    --warmup 50 --lr 2e-4 --crop 256 --real-share 0.7 --seed 1 --checkpoint-every 250 --fade-loss l1
$PY -m artrestore.cli calibrate-detector --detector runs/detector_v2_real3/final \
    --report runs/detector_v2_real3/calibration
# 6b. a separate fading branch (1/4 resolution) trained alone with the BCE fading term on simulated damage; the rest
#     of the detector is frozen, so its damage classes stay bit-identical; then recalibrate (the fade threshold)
$PY -m artrestore.cli train-detector --init runs/detector_v2_real3/final --out runs/detector_fade \
    --fade-channels 16,32,48,64 --fade-only --real-share 0 --fade-loss bce --crop 256 --steps 1500 --warmup 50 \
    --lr 1e-3 --checkpoint-every 250
#     (the calibration also picks the type-vote window; the weights are unchanged)
$PY -m artrestore.cli calibrate-detector --detector runs/detector_fade/final --out runs/detector_vote \
    --report runs/detector_vote/calibration
# 6c. the varnish estimator: predicts each painting's ageing transform, inverted pixel by pixel under the fade map
$PY -m artrestore.cli train-varnish --out runs/varnish --checkpoint-every 500
# 6d. the decoder alone, fine-tuned on multi-scale crops of the training paintings (the encoder, so the latent space
#     every denoiser stage learned, stays bit-identical)
$PY -m artrestore.cli train-vae --source paintings --init runs/diffusion_cells/vae --decoder-only \
    --out runs/vae_decoder --steps 1800 --warmup 50 --lr 2e-4 --lpips-weight 1.0 --ema-decay 0.995 \
    --checkpoint-every 100
# 7. export the Hub-style folder (memory bank from the training split; certifier, detector and varnish estimator
#    as components; the fine-tuned decoder)
$PY -m artrestore.cli export --run runs/diffusion_cells --certifier runs/certifier/final \
    --detector runs/detector_vote --varnish runs/varnish/final --decoder runs/vae_decoder/final \
    --out checkpoints/artrestore-base
# 8. the exemplar refiner, on PatchMatch fills of training crops (the bundled weights' first two stages saw only
#    the 224 px style set: the run then did not read the paintings), then bundled into the model folder
$PY -m artrestore.cli train-refiner --out runs/refiner --steps 850 --batch-size 6 --l1-weight 1.0
$PY -m artrestore.cli train-refiner --init runs/refiner/final --out runs/refiner_lpips --steps 1200 --batch-size 6 \
    --l1-weight 0.2
$PY -m artrestore.cli train-refiner --init runs/refiner_lpips/final --out runs/refiner256 --crop 256 --no-style-set \
    --pool-size 4000 --batch-size 3 --lr 3e-4 --steps 800
#    then a texture term (DISTS over the hole): step 700 of a 1,000-step schedule
$PY -m artrestore.cli train-refiner --init runs/refiner256/final --out runs/refiner_dists --crop 256 --no-style-set \
    --pool-size 3000 --batch-size 3 --lr 2e-4 --warmup 50 --steps 1000 --stop-after 700 --checkpoint-every 100 \
    --dists-weight 1.0
#    then batches of 24 with the same loss (bf16): step 250 of a 600-step schedule
$PY -m artrestore.cli train-refiner --init runs/refiner_dists/final --out runs/refiner_b24 --crop 256 --no-style-set \
    --pool-size 1500 --batch-size 24 --lr 3e-4 --warmup 10 --steps 600 --stop-after 250 --checkpoint-every 25 \
    --dists-weight 1.0 --mixed-precision bf16
$PY -m artrestore.cli export --update --out checkpoints/artrestore-base --refiner runs/refiner_b24/final
#    then the layout input (the membrane through the hole's border, three more input channels that start at zero):
#    400 steps of batches of 24 on the pool of 3,000 fills that seed 1 draws
$PY -m artrestore.cli train-refiner --init runs/refiner_b24/final --out runs/refiner_layin --layout-input --crop 256 \
    --no-style-set --pool-size 3000 --pool-seed 1 --batch-size 24 --lr 3e-4 --warmup 10 --steps 400 \
    --checkpoint-every 25 --dists-weight 1.0 --mixed-precision bf16 --seed 3
$PY -m artrestore.cli export --update --out checkpoints/artrestore-base --refiner runs/refiner_layin/final
#    then trained through the membrane layout stage (the loss on the fill as the pipeline blends it, layout weight
#    0.5), on the pool of 3,000 fills that seed 4 draws; bundled with wider thin damage sent to the refined fill
#    (hairline_px 4: only stretches narrower than 4 px keep the biharmonic fill)
$PY -m artrestore.cli train-refiner --init runs/refiner_layin/final --out runs/refiner_through --layout-input \
    --layout-blend 0.5 --crop 256 --no-style-set --pool-size 3000 --pool-seed 4 --batch-size 24 --lr 2e-4 \
    --warmup 10 --steps 400 --checkpoint-every 25 --dists-weight 1.0 --mixed-precision bf16 --seed 5
$PY -m artrestore.cli export --update --out checkpoints/artrestore-base --refiner runs/refiner_through/final \
    --hairline-px 4
# 9. the artist recogniser (a named artist's palette where the painting does not look like that artist; gate
#    calibrated out of fold on the training paintings), then bundled into the model folder
$PY -m artrestore.cli train-recogniser --out runs/recogniser
$PY -m artrestore.cli export --update --out checkpoints/artrestore-base --recogniser runs/recogniser/recogniser
