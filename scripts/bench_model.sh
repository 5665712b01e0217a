#!/usr/bin/env bash
# The measurements quoted in the README and model card, on the bundled model (2 CPU threads, one run at a time).
set -euo pipefail
cd "$(dirname "$0")/.."
A=".venv/bin/python -m artrestore.cli"
# sampler, step count and init fill, on the same damaged validation paintings (strength 1: from noise; the default,
# strength 0, denoises nothing)
$A bench --out bench_out/samplers --limit 4 --kinds large_loss,mixed --examples 0 \
  --methods patchmatch,artrestore@dpm4~1,artrestore@dpm8~1,artrestore@dpm16~1,artrestore@ddim8~1,artrestore@unipc8~1,artrestore+patchmatch@dpm8~0.5
# denoising steps from noise (steps.md)
$A bench --out bench_out/steps --limit 12 --kinds small_loss,large_loss,mixed --examples 0 \
  --methods patchmatch,artrestore~1,artrestore@dpm1~1,artrestore@dpm2~1
# damage narrower than 7 px through the pixel-space path instead of the model (a copy of the model with thin_damage_px=7)
# $A bench --out bench_out/thin7 --limit 4 --kinds crack,scratch,mixed --examples 0 --methods artrestore --model /tmp/art_thin
# wider thin damage through the refined fill (hairlines.md): a copy of the model with "hairline_px": 4 in its
# model_index.json, on the validation (and, with --split train --limit 6, the training) paintings
# $A bench --out bench_out/hairlines --limit 12 --kinds scratch,crack,small_loss,mixed,lines,strokes,polygon_lines \
#   --examples 0 --methods artrestore --model /tmp/art_hair4
# quality against the baselines, every damage kind, 512 px (artrestore~1: latent diffusion from noise)
$A bench --out bench_out/model_512_all --limit 12 --methods patchmatch,gmic,artrestore,artrestore~1
# PatchMatch at larger patch sizes (the 3 px patchmatch and artrestore rows come from the runs above)
$A bench --out bench_out/patchmatch_sizes --limit 12 --examples 0 --methods patchmatch5,patchmatch7,patchmatch11 \
  --kinds scratch,small_loss,large_loss,mixed,polygon,lines,strokes,polygon_lines
# speed at 768 px, mixed damage
$A bench --out bench_out/model_768 --size 768 --limit 6 --kinds mixed,polygon_lines --examples 0 \
  --methods patchmatch,artrestore
# peak memory at 4000x3000
$A bench-large --out bench_out/large.json
# autoencoder reconstruction on the validation paintings
$A bench-vae --vae checkpoints/artrestore-base/vae --out bench_out/vae_bench.json
# attribution deletion test, ablations (with the certificate's wrong-artist discrimination), detection end to end
$A bench-attribution --out bench_out/attribution
$A bench-certify --out bench_out/certify
# every mechanism switched off at the shipped default (strength 0: nothing denoised), then the denoiser's switches
# from noise
$A ablate --out bench_out/ablation_default --limit 12 --kinds large_loss,mixed,fading,polygon --examples 2
$A ablate --out bench_out/ablation --limit 4 --strength 1
# does the artist matter: true against wrong artist, and the style switched off, on the ten main artists' large losses
$A ablate --out bench_out/ablation_artist --variants full,wrong_artist,no_style --kinds large_loss --min-works 15 \
  --limit 20 --examples 0
# from noise: true against wrong artist (ablation_wrong_artist.md), and guidance on style and retrieval (guidance.md)
$A ablate --out bench_out/ablation_wrong_artist --variants full,wrong_artist --baselines "" --kinds large_loss,mixed \
  --limit 30 --min-works 15 --strength 1 --examples 1
for g in 1 1.5 3 6; do
  $A ablate --out bench_out/guidance_$g --variants full,wrong_artist --baselines "" --kinds large_loss --limit 10 \
    --min-works 15 --strength 1 --guidance-scale $g --examples 0
done
# does the style space the generator is conditioned on carry the artist (and the certificate's embedding)
$A bench-style-space --out bench_out/style_space
# where a large fill errs: its layout above a scale, or its detail below it (an oracle with the clean painting)
$A bench-bands --out bench_out/bands
$A bench --out bench_out/model_512 --limit 4 --kinds scratch,crack,small_loss,large_loss,mixed --examples 0 \
  --methods patchmatch,artrestore,artrestore-auto
# detection end to end: restoring what the detector finds against restoring the true masks (detect_end_to_end.md)
$A bench --out bench_out/detect_end_to_end --limit 12 --kinds scratch,crack,small_loss,large_loss,fading,mixed \
  --examples 2 --methods none,artrestore,artrestore-auto
# masks the training simulator never draws (polygons, long straight lines, brush strokes), with G'MIC as a baseline
$A bench --out bench_out/heldout_masks --limit 12 --kinds polygon,lines,strokes,polygon_lines --examples 2 \
  --methods patchmatch,gmic,artrestore,artrestore~1
# the app as a Space runs it: peak RSS on a 60 MP upload, a burst of 20 clients
$A bench-app --out bench_out/app_load
