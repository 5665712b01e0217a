"""ArtRestore preview Space: the damage simulator and classical baselines (the diffusion model is not trained yet).

Run with ``make demo`` (serves on 127.0.0.1:7860) or ``python app.py --host 127.0.0.1 --port 7860``.
"""

from __future__ import annotations

import argparse
import functools

import gradio as gr

from artrestore import demo
from artrestore.baselines import available_methods
from artrestore.config import BenchConfig
from artrestore.damage import KINDS


def _ui_errors(fn):
    """Turn the library's ValueErrors into Gradio errors (a clear message, never a stack trace)."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ValueError as e:
            raise gr.Error(str(e)) from e

    return wrapped


@_ui_errors
def on_simulate(image, kind, seed, work_side):
    clean, damaged, sample, types = demo.simulate(image, kind, seed, work_side)
    return damaged, types, clean, sample


@_ui_errors
def on_fill(clean, sample, method):
    return demo.fill_with_baseline(clean, sample, method)


def build_app() -> gr.Blocks:
    with gr.Blocks(title="ArtRestore (preview)", analytics_enabled=False) as app:
        gr.Markdown(
            "# ArtRestore — preview\n"
            "**The ArtRestore-Diffusion restoration model is not trained yet.** This page shows what exists: the "
            "painting-damage simulator and the *classical baselines* (OpenCV, scikit-image, PatchMatch) that the "
            "model will have to beat. Baseline fills are labelled as such; none of them is an ArtRestore restoration."
        )
        clean_state, sample_state = gr.State(), gr.State()
        with gr.Row():
            with gr.Column():
                image = gr.Image(label="Painting", type="numpy", image_mode="RGB", sources=["upload", "clipboard"])
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
        )
        fill_btn.click(on_fill, [clean_state, sample_state, method], [filled, metrics], api_name="baseline")
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the ArtRestore preview app.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    args = parser.parse_args()
    app = build_app()
    app.queue(default_concurrency_limit=1, max_size=16)
    app.launch(server_name=args.host, server_port=args.port, max_file_size="50mb", show_error=True)


if __name__ == "__main__":
    main()
