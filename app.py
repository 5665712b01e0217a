"""ArtRestore Space: restore a damaged painting in the browser; plus the damage simulator and classical baselines.

Run with ``make demo`` (serves on 127.0.0.1:7860) or ``python app.py --host 127.0.0.1 --port 7860``. The model is
the bundled ``checkpoints/artrestore-base`` unless ``ARTRESTORE_MODEL`` names another folder. This file only wires
the UI; the handlers live in :mod:`artrestore.restore_ui` and :mod:`artrestore.demo`.
"""

from __future__ import annotations

import argparse
import functools
import os
from pathlib import Path

import gradio as gr

from artrestore import demo
from artrestore import restore_ui as ui
from artrestore.baselines import available_methods
from artrestore.config import BenchConfig, RestoreConfig
from artrestore.damage import KINDS
from artrestore.hub.settings import PipelineSettings

# the heavy endpoints (decoding an upload, detection, restoration) share one queue: one runs at a time on 2 CPUs
HEAVY = {"concurrency_id": "heavy", "concurrency_limit": 1}


def _ui_errors(fn):
    """Turn the library's ValueErrors into Gradio errors (a clear message, never a stack trace)."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ValueError as e:
            raise gr.Error(str(e)) from e

    return wrapped


@functools.lru_cache(maxsize=2)
def get_pipeline(model: str):
    """The pipeline, loaded once per model folder."""
    from artrestore.restore import load_pipeline

    if not os.path.isdir(model):
        raise ValueError(f"model: no ArtRestore model folder at {model} (set ARTRESTORE_MODEL)")
    return load_pipeline(model)


def model_path() -> str:
    return RestoreConfig(input="").model


@_ui_errors
def on_upload(path):
    if not path:  # cleared
        return None
    upload = ui.load_upload(path)
    return {"background": upload.preview, "layers": [], "composite": None}


@_ui_errors
def on_restore(
    path,
    editor,
    mask_file,
    artist,
    references,
    new_name,
    steps,
    seed,
    variants,
    strength=None,
    artist_palette=True,
    progress=gr.Progress(track_tqdm=True),
):
    progress(0, desc="loading")
    pipe = get_pipeline(model_path())
    upload = ui.load_upload(path)
    mask, fade = ui.damage_from_editor(editor, mask_file, upload)
    artist_name = ui.resolve_artist(pipe, artist, references, new_name)
    progress(0.05, desc="restoring")  # then the pipeline's own tile progress bar is tracked
    results = ui.restore_upload(
        pipe, upload, mask, fade, artist_name, steps, seed, variants, strength=strength, artist_palette=artist_palette
    )
    first = results[0]
    gallery = [(r["preview"], f"seed {r['seed']}") for r in results]
    folder = Path(first["path"]).parent
    maps = ui.save_damage_maps(mask, fade, folder, upload.name)
    overlay, sources, sources_note = ui.attribution_views(
        first["attribution"], upload.preview.shape[:2], artist_name, denoised=first["record"].tiles > 0
    )
    verdict, plot, cert_json = ui.certificate_views(first["certificate"], folder, upload.name)
    return (
        (upload.preview, first["preview"]),
        first["zoom"],
        [r["path"] for r in results] + maps + ([cert_json] if cert_json else []),
        gallery,
        ui.mask_overlay(upload.preview, mask, fade),
        overlay,
        sources,
        sources_note,
        verdict,
        plot,
        ui.run_summary(results, mask, fade, artist_name),
        ui.palette_note(first["record"]),
    )


@_ui_errors
def on_detect(path, progress=gr.Progress()):
    progress(0, desc="detecting damage")
    upload = ui.load_upload(path)
    return ui.detect_into_editor(get_pipeline(model_path()), upload)  # (editor value, what was found)


def on_artist_choice(choice):
    show = choice == ui.ADD_REFERENCES
    return gr.update(visible=show), gr.update(visible=show)


def _artist_choices() -> list[str]:
    try:
        artists = get_pipeline(model_path()).memory_bank.artists
    except ValueError:
        artists = []
    return [ui.INFER, *artists, ui.ADD_REFERENCES]


def _default_steps() -> int:
    try:
        return int(get_pipeline(model_path()).config.default_steps)
    except ValueError:
        return PipelineSettings.default_steps


def _default_strength() -> float:
    try:
        return float(get_pipeline(model_path()).config.default_strength)
    except ValueError:
        return PipelineSettings.default_strength


def _example_cache() -> Path:
    return Path(os.environ.get("ARTRESTORE_CACHE", Path.home() / ".cache" / "artrestore")) / "examples"


def restore_tab() -> None:
    """The Restore tab: upload, sketch the damage, restore at full resolution."""
    gr.Markdown(
        "Upload a scan of a painting (any size), paint the damage on the preview with the **red brush** (paint loss, "
        "scratches, cracks) or the translucent **violet brush** (fading), then press **Restore**. The brush colour "
        "decides what a stroke means, whatever layer it is on. The restoration runs on the full-resolution "
        "original; pixels outside the marked damage are never changed."
    )
    with gr.Row():
        with gr.Column():
            painting = gr.File(label="Painting (any size)", file_types=["image"], type="filepath", elem_id="painting")
            editor = gr.ImageEditor(
                label="Mark the damage (layers: paint loss, scratch, crack, fading)",
                type="numpy",
                image_mode="RGBA",
                sources=[],
                transforms=[],
                layers=gr.LayerOptions(layers=list(ui.LAYERS), allow_additional_layers=False),
                brush=gr.Brush(default_size=12, colors=["#ff2020", ("#a040e0", 0.35)], color_mode="defaults"),
                eraser=gr.Eraser(default_size=16),
                elem_id="editor",
            )
            detect_btn = gr.Button("Detect damage (fills the layers; correct them, then Restore)", elem_id="detect")
            found = gr.Markdown(elem_id="found")
            mask_file = gr.File(label="…or upload a mask (white = damaged, the painting's own size)", type="filepath")
            with gr.Row():
                artist = gr.Dropdown(_artist_choices(), value=ui.INFER, label="Artist", elem_id="artist")
                steps = gr.Slider(1, 50, value=_default_steps(), step=1, label="Denoising steps")
            with gr.Row():
                references = gr.File(
                    label="Reference paintings", file_count="multiple", type="filepath", visible=False
                )
                new_name = gr.Textbox(label="New artist's name", visible=False)
            with gr.Row():
                seed = gr.Number(value=0, precision=0, label="Seed")
                variants = gr.Slider(1, ui.MAX_VARIANTS, value=1, step=1, label="Number of variants")
            strength = gr.Slider(
                0,
                1,
                value=_default_strength(),
                step=0.05,
                label="Denoising strength (0: the refined PatchMatch fill, the best measured and fastest; 1: from "
                "noise; steps and variants count only above 0)",
                elem_id="strength",
            )
            artist_palette = gr.Checkbox(value=True, label=ui.PALETTE_CHECKBOX, elem_id="artist_palette")
            restore_btn = gr.Button("Restore", variant="primary", elem_id="restore")
        with gr.Column():
            slider = gr.ImageSlider(label="Before / after", type="numpy", elem_id="slider")
            palette = gr.Markdown(elem_id="palette_note")
            zoom = gr.ImageSlider(
                label="Close-up of the largest damaged region, before / after (full resolution)",
                type="numpy",
                elem_id="zoom",
            )
            download = gr.File(
                label="Restored painting(s) at full resolution (lossless PNG) and the damage maps used",
                file_count="multiple",
                elem_id="download",
            )
            gallery = gr.Gallery(label="Variants", columns=4, height=260, object_fit="contain", elem_id="variants")
            used = gr.Image(label="Damage restored (red: mask, violet: fading)", type="numpy", elem_id="used")
            with gr.Row():
                attribution = gr.Image(
                    label="Attribution: each restored 16 px block tinted by its top memory-bank source",
                    type="numpy",
                    elem_id="attribution",
                )
                sources = gr.Gallery(
                    label="Sources used (decoded bank patches, colours as in the overlay)",
                    columns=2,
                    height=320,
                    object_fit="contain",
                    elem_id="sources",
                )
            sources_note = gr.Markdown(elem_id="sources_note")
            certificate = gr.Markdown(elem_id="certificate")
            cert_plot = gr.Image(
                label="Style certificate: restored blocks against genuine passages of the artist",
                type="numpy",
                elem_id="cert_plot",
            )
            summary = gr.Code(label="Run record (JSON)", language="json", elem_id="summary")
    examples = ui.example_cases(BenchConfig().data, Path(__file__).parent / "examples" / "masks", _example_cache())
    if examples:
        gr.Examples(examples=examples, inputs=[painting, mask_file], label="Examples (damaged validation paintings)")
    painting.change(on_upload, painting, editor, **HEAVY)
    detect_btn.click(on_detect, painting, [editor, found], api_name="detect", **HEAVY)
    artist.change(on_artist_choice, artist, [references, new_name])
    restore_btn.click(
        on_restore,
        [painting, editor, mask_file, artist, references, new_name, steps, seed, variants, strength, artist_palette],
        [
            slider,
            zoom,
            download,
            gallery,
            used,
            attribution,
            sources,
            sources_note,
            certificate,
            cert_plot,
            summary,
            palette,
        ],
        api_name="restore",
        **HEAVY,
    )


@_ui_errors
def on_simulate(image, kind, seed, work_side):
    clean, damaged, sample, types = demo.simulate(image, kind, seed, work_side)
    return damaged, types, clean, sample


@_ui_errors
def on_fill(clean, sample, method):
    return demo.fill_with_baseline(clean, sample, method)


def build_app() -> gr.Blocks:
    # uploads and results in Gradio's cache older than an hour are deleted, checked every hour
    with gr.Blocks(title="ArtRestore", analytics_enabled=False, delete_cache=(3600, 3600)) as app:
        gr.Markdown("# ArtRestore\nRestore damaged paintings with ArtRestore-Diffusion.")
        with gr.Tab("Restore"):
            restore_tab()
        with gr.Tab("Damage simulator and classical baselines"):
            simulator_tab()
    return app


def simulator_tab() -> None:
    """Simulate damage on a painting and compare the classical baselines (not ArtRestore) against the clean one."""
    gr.Markdown(
        "Simulate damage on a painting and fill it with a *classical baseline* (OpenCV, scikit-image, "
        "PatchMatch). These fills are what ArtRestore is measured against; none of them is an ArtRestore "
        "restoration."
    )
    clean_state, sample_state = gr.State(), gr.State()
    with gr.Row():
        with gr.Column():
            image = gr.Image(
                label="Painting", type="numpy", image_mode="RGB", sources=["upload", "clipboard"], elem_id="sim_image"
            )
            examples = demo.example_paintings(BenchConfig().data)
            if examples:
                gr.Examples(examples=[[p] for p in examples], inputs=[image], label="Validation paintings")
            kind = gr.Dropdown(list(KINDS), value="mixed", label="Damage kind")
            seed = gr.Number(value=0, precision=0, label="Seed")
            work_side = gr.Slider(
                64,
                demo.MAX_WORK_SIDE,
                value=512,
                step=32,
                label="Working size (longest side, px): the demo damages a resized copy",
            )
            simulate_btn = gr.Button("Simulate damage", variant="primary")
        with gr.Column():
            damaged = gr.Image(label="Simulated damage", type="numpy", interactive=False, elem_id="damaged")
            types = gr.Image(
                label="Damage-type map (red crack, cyan scratch, yellow loss, violet fading)",
                type="numpy",
                interactive=False,
                elem_id="types",
            )
    with gr.Row():
        with gr.Column():
            method = gr.Dropdown(available_methods(), value="patchmatch", label="Classical baseline")
            fill_btn = gr.Button("Fill with classical baseline")
            metrics = gr.Dataframe(
                headers=["metric", "value"], label="Baseline vs the clean painting", interactive=False
            )
        with gr.Column():
            filled = gr.Image(
                label="Classical baseline fill (not ArtRestore)",
                type="numpy",
                interactive=False,
                format="png",
                elem_id="filled",
            )
    simulate_btn.click(
        on_simulate,
        [image, kind, seed, work_side],
        [damaged, types, clean_state, sample_state],
        api_name="simulate",
        **HEAVY,
    )
    fill_btn.click(on_fill, [clean_state, sample_state, method], [filled, metrics], api_name="baseline", **HEAVY)


def main() -> None:
    # a Hugging Face Space sets GRADIO_SERVER_NAME / GRADIO_SERVER_PORT and runs `python app.py`; flags override them
    parser = argparse.ArgumentParser(description="Serve the ArtRestore preview app.")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    args = parser.parse_args()
    app = build_app()
    # one heavy request runs at a time; up to 24 wait their turn (a 20-client burst is served), more are refused
    app.queue(default_concurrency_limit=1, max_size=24)
    app.launch(server_name=args.host, server_port=args.port, max_file_size="100mb", show_error=True)


if __name__ == "__main__":
    main()
