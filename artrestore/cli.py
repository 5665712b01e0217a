"""The ``artrestore`` command line. Every subcommand's flags are generated from its settings dataclass."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .config import (
    AblateConfig,
    AppLoadBenchConfig,
    AttributionBenchConfig,
    AutoencoderTrainConfig,
    BandBenchConfig,
    BenchConfig,
    BenchMergeConfig,
    CertifierTrainConfig,
    CertifyBenchConfig,
    CertifyConfig,
    DamageGridConfig,
    DataPackConfig,
    DetectBenchConfig,
    DetectConfig,
    DetectorCalibrationConfig,
    DetectorTrainConfig,
    DeviceKitConfig,
    DiffusionTrainConfig,
    ExportConfig,
    LargeBenchConfig,
    PushConfig,
    RecogniserTrainConfig,
    RefinerTrainConfig,
    RestoreConfig,
    StyleSpaceBenchConfig,
    VaeBenchConfig,
    VarnishTrainConfig,
    add_dataclass_arguments,
    dataclass_from_args,
)


def cmd_bench(config: BenchConfig) -> int:
    from .bench import run_bench

    results = run_bench(config)
    print((Path(config.out) / "results.md").read_text())
    print(f"wrote {config.out}/results.md, results.json, plot.png ({len(results['records'])} records)")
    return 0


def cmd_bench_merge(config: BenchMergeConfig) -> int:
    from .bench.harness import merge_results, write_report

    results = merge_results([f.strip() for f in config.inputs.split(",") if f.strip()])
    write_report(results, Path(config.out))
    print((Path(config.out) / "results.md").read_text())
    return 0


def cmd_damage_grid(config: DamageGridConfig) -> int:
    import cv2

    from .damage import DamageConfig, DamageSimulator, render_damage_grid
    from .data import PaintingCollection, center_square, split_collection
    from .io import load_image

    if config.image is None:
        root = Path(BenchConfig().data)
        val = split_collection(PaintingCollection.scan(root), "val")
        path = val.records[0].path
    else:
        path = Path(config.image)
    image = center_square(load_image(path).to_uint8(), config.size)
    source_dir = config.craquelure_dir if config.craquelure_source != "synthetic" else None
    simulator = DamageSimulator(DamageConfig(config.craquelure_source, source_dir))
    grid = render_damage_grid(image, config.seed, simulator)
    out = Path(config.out)
    if out.suffix.lower() not in (".jpg", ".jpeg", ".png"):
        raise ValueError(f"out: expected a .jpg or .png file name, got {out.name}")
    out.parent.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, 88] if out.suffix.lower() in (".jpg", ".jpeg") else []
    if not cv2.imwrite(str(out), grid[:, :, ::-1], params):
        raise ValueError(f"out: could not write {out}")
    print(f"wrote {out} ({grid.shape[1]}x{grid.shape[0]}) from {path}")
    return 0


def cmd_bench_detect(config: DetectBenchConfig) -> int:
    from .bench.detect import run_detect_bench

    run_detect_bench(config)
    print((Path(config.out) / "results.md").read_text())
    return 0


def cmd_detect(config: DetectConfig) -> int:
    from .detection.detect import detect_to_files

    for path in detect_to_files(config):
        print(f"wrote {path}")
    return 0


def cmd_calibrate_detector(config: DetectorCalibrationConfig) -> int:
    from .detection.calibration import calibrate_detector

    result = calibrate_detector(config)
    print(
        f"damage threshold {result['damage_threshold']:.2f} (mean F1 {result['damage_f1']:.3f}), fade threshold "
        f"{result['fade_threshold']:.2f} (pooled F1 {result['fade_f1']:.3f}), type weights crack/scratch/loss "
        f"{'/'.join(f'{w:g}' for w in result['type_weights'])} (balanced accuracy "
        f"{result['type_balanced_accuracy']:.3f}), type vote {result['type_vote']} px (mean type IoU "
        f"{result['type_vote_mean_iou'][str(result['type_vote'])]:.3f}, {result['type_vote_mean_iou']['0']:.3f} "
        f"without) on {result['cases']} held-out training cases; saved "
        f"{result['detector']}, report in {config.report}"
    )
    return 0


def cmd_train_detector(config: DetectorTrainConfig) -> int:
    from .training.detector import train_detector

    summary = train_detector(config)
    print(json.dumps(summary))
    return 0


def cmd_train_varnish(config: VarnishTrainConfig) -> int:
    from .training.varnish import train_varnish

    print(json.dumps(train_varnish(config)))
    return 0


def cmd_train_vae(config: AutoencoderTrainConfig) -> int:
    from .training.autoencoder import train_autoencoder

    print(json.dumps(train_autoencoder(config)))
    return 0


def cmd_train(config: DiffusionTrainConfig) -> int:
    from .training.diffusion import train_diffusion

    print(json.dumps(train_diffusion(config)))
    return 0


def cmd_train_refiner(config: RefinerTrainConfig) -> int:
    from .training.refiner import train_refiner

    print(json.dumps(train_refiner(config), indent=1))
    return 0


def cmd_restore(config: RestoreConfig) -> int:
    from .restore import detected_fading_note, palette_note, restore_files

    done = restore_files(config)
    for path in done.written:
        print(f"wrote {path}")
    for image, palette in done.palettes.items():
        print(palette_note(image, palette))
    for image, fade_map in done.detected_fading.items():
        print(detected_fading_note(image, fade_map))
    return 0


def cmd_export(config: ExportConfig) -> int:
    from .export import export_run, folder_size, sync_bundle_code, update_bundle

    card = Path(config.model_card).read_text() if Path(config.model_card).is_file() else "# ArtRestore-Diffusion\n"
    if config.code_only:
        changed = sync_bundle_code(config.out, card)
        print(f"{config.out}: {len(changed)} files updated" + "".join(f"\n  {c}" for c in changed))
        return 0
    if config.update:
        settings = {"thin_damage_px": config.thin_damage_px, "hairline_px": config.hairline_px}
        index = Path(config.out) / "model_index.json"
        before = json.loads(index.read_text()) if index.is_file() else {}
        out = update_bundle(config.out, card, refiner=config.refiner, recogniser=config.recogniser, settings=settings)
        print(f"rewrote {out} ({folder_size(out) / 2**20:.1f} MB)")
        for name, value in settings.items():
            if name in before and before[name] != value:
                flag = "--" + name.replace("_", "-")
                print(
                    f"  {name}: {before[name]} -> {value} (the folder's value changed; {flag} {before[name]} keeps it)"
                )
        return 0
    out = export_run(
        config.run,
        config.out,
        config.data,
        config.sampler,
        config.default_steps,
        card,
        config.bank_side,
        config.certifier,
        config.detector,
        config.varnish,
        config.retrieval_routing,
        config.thin_damage_px,
        config.decoder,
        refiner=config.refiner,
        recogniser=config.recogniser,
        hairline_px=config.hairline_px,
    )
    print(f"wrote {out} ({folder_size(out) / 2**20:.1f} MB)")
    return 0


def cmd_push(config: PushConfig) -> int:
    from .export import push_folder, push_space

    for line in push_folder(config.folder, config.repo_id, config.private, config.dry_run):
        print(line)
    if config.space:
        for line in push_space(config.space, private=config.private, dry_run=config.dry_run):
            print(line)
    return 0


def cmd_pack_data(config: DataPackConfig) -> int:
    from .data.pack import build_data_pack

    manifest = build_data_pack(config)
    styles = sum(manifest["style_images"].values())
    print(
        f"wrote {config.out}: {manifest['paintings']} training paintings of {manifest['artists']} artists and "
        f"{styles} style-set images, {manifest['mib']} MiB of {config.max_mib}, in {manifest['seconds']} s"
    )
    print(f"train from it with {manifest['usage'].replace('<pack>', config.out)}")
    return 0


def cmd_device_kit(config: DeviceKitConfig) -> int:
    from .training.device_kit import build_device_kit, kit_summary

    for line in kit_summary(build_device_kit(config)):
        print(line)
    return 0


def cmd_bench_bands(config: BandBenchConfig) -> int:
    from .bench.bands import run_band_bench

    run_band_bench(config)
    print((Path(config.out) / "bands.md").read_text())
    return 0


def cmd_bench_vae(config: VaeBenchConfig) -> int:
    from .bench.autoencoder import run_vae_bench

    print(json.dumps(run_vae_bench(config)))
    return 0


def cmd_bench_style_space(config: StyleSpaceBenchConfig) -> int:
    from .bench.style_space import run_style_space_bench

    result = run_style_space_bench(config)
    print(Path(config.out, "style_space.md").read_text())
    print(json.dumps(result["summary"]))
    return 0


def cmd_bench_large(config: LargeBenchConfig) -> int:
    from .bench.large import run_large_bench

    result = run_large_bench(config)
    print("| " + " | ".join(result) + " |")
    print("|" + "---|" * len(result))
    print("| " + " | ".join(str(v) for v in result.values()) + " |")
    return 0


def cmd_ablate(config: AblateConfig) -> int:
    from .bench.ablation import run_ablation

    run_ablation(config)
    print((Path(config.out) / "ablation.md").read_text())
    print(f"wrote {config.out}/ablation.md, ablation.json, ablation.png and the bench report")
    return 0


def cmd_bench_attribution(config: AttributionBenchConfig) -> int:
    from .bench.attribution import run_deletion_test

    run_deletion_test(config)
    print((Path(config.out) / "deletion.md").read_text())
    return 0


def cmd_train_certifier(config: CertifierTrainConfig) -> int:
    from .training.certifier import train_certifier

    print(json.dumps(train_certifier(config), indent=2))
    return 0


def cmd_train_recogniser(config: RecogniserTrainConfig) -> int:
    from .training.recogniser import train_recogniser

    print(json.dumps(train_recogniser(config), indent=2, default=str))
    return 0


def cmd_bench_certify(config: CertifyBenchConfig) -> int:
    from .bench.certify import run_certify_bench

    results = run_certify_bench(config)
    print((Path(config.out) / "certify.md").read_text())
    return 0 if results else 1


def cmd_bench_app(config: AppLoadBenchConfig) -> int:
    from .bench.app_load import run_app_load_bench

    run_app_load_bench(config)
    print((Path(config.out) / "app_load.md").read_text())
    return 0


def cmd_certify(config: CertifyConfig) -> int:
    from .certificate.certify import certify_file
    from .output_paths import check_outputs

    if config.out:
        check_outputs([config.out], inputs=[config.image, config.mask], overwrite=config.overwrite, suffix=".json")
    cert = certify_file(config.image, config.mask, config.artist, config.model).to_json()
    text = json.dumps(cert, indent=2)
    if config.out:
        Path(config.out).write_text(text + "\n")
    print(text)
    verdict = {True: "PASS", False: "FAIL", None: "UNCALIBRATED"}[cert["passed"]]
    print(f"{verdict}. {cert['summary']}\n{cert['guarantee']}", file=sys.stderr)
    return 0


COMMANDS: dict[str, tuple[type, Callable, str]] = {
    "bench": (BenchConfig, cmd_bench, "benchmark restoration methods on damaged validation paintings"),
    "bench-merge": (BenchMergeConfig, cmd_bench_merge, "merge the results of bench shards into one report"),
    "bench-vae": (VaeBenchConfig, cmd_bench_vae, "autoencoder reconstruction PSNR and LPIPS on held-out paintings"),
    "bench-style-space": (
        StyleSpaceBenchConfig,
        cmd_bench_style_space,
        "how often the style vector and the certificate name a held-out painting's artist",
    ),
    "bench-bands": (
        BandBenchConfig,
        cmd_bench_bands,
        "how much a perfect layout or perfect detail of a method's fill would be worth (needs the ground truth)",
    ),
    "bench-large": (LargeBenchConfig, cmd_bench_large, "peak memory and time on a 4000x3000 painting"),
    "bench-detect": (DetectBenchConfig, cmd_bench_detect, "the detect section of the bench: IoU, F1, speed"),
    "detect": (DetectConfig, cmd_detect, "find cracks, scratches, paint loss and fading in a painting"),
    "damage-grid": (DamageGridConfig, cmd_damage_grid, "render every damage kind on one painting"),
    "pack-data": (
        DataPackConfig,
        cmd_pack_data,
        "pack the training paintings and a style-set sample into one small folder, to train from elsewhere",
    ),
    "device-kit": (
        DeviceKitConfig,
        cmd_device_kit,
        "put what train-refiner needs on a lent GPU machine with no network into one carried folder",
    ),
    "train-vae": (AutoencoderTrainConfig, cmd_train_vae, "train the latent autoencoder (resumable)"),
    "train-detector": (DetectorTrainConfig, cmd_train_detector, "train the damage detector (resumable)"),
    "train-varnish": (VarnishTrainConfig, cmd_train_varnish, "train the varnish estimator that restores fading"),
    "calibrate-detector": (
        DetectorCalibrationConfig,
        cmd_calibrate_detector,
        "tune the detector's damage and fade thresholds on held-out training cases",
    ),
    "train": (DiffusionTrainConfig, cmd_train, "train ArtRestore-Diffusion's denoiser stack (resumable)"),
    "train-refiner": (
        RefinerTrainConfig,
        cmd_train_refiner,
        "train the exemplar refiner on PatchMatch fills of training crops (resumable)",
    ),
    "restore": (RestoreConfig, cmd_restore, "restore a painting (or a folder of them) with ArtRestore-Diffusion"),
    "export": (ExportConfig, cmd_export, "build the Hub-style model folder from a training run"),
    "push": (PushConfig, cmd_push, "upload a model folder to the Hugging Face Hub (--dry-run lists it)"),
    "train-certifier": (CertifierTrainConfig, cmd_train_certifier, "train and calibrate the style certificate"),
    "train-recogniser": (
        RecogniserTrainConfig,
        cmd_train_recogniser,
        "train the artist recogniser (a named artist's palette) and calibrate its gate out of fold",
    ),
    "bench-certify": (
        CertifyBenchConfig,
        cmd_bench_certify,
        "the certificate's coverage on genuine held-out paint, pass rates and wrong-artist discrimination",
    ),
    "bench-app": (
        AppLoadBenchConfig,
        cmd_bench_app,
        "the app's peak memory on a huge upload and a burst of concurrent clients, through its API",
    ),
    "bench-attribution": (AttributionBenchConfig, cmd_bench_attribution, "deletion test of the attribution maps"),
    "ablate": (AblateConfig, cmd_ablate, "the bench with model components switched off (ablation study)"),
    "certify": (CertifyConfig, cmd_certify, "print the style certificate of a restored region"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="artrestore", description="Restore damaged paintings.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (cls, _, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_dataclass_arguments(p, cls)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``artrestore`` console script."""
    args = build_parser().parse_args(argv)
    cls, fn, _ = COMMANDS[args.command]
    try:
        return fn(dataclass_from_args(cls, args))
    except ValueError as e:
        print(f"artrestore {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
