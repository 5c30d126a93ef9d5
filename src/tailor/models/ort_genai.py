"""int8 answers of a chat run through onnxruntime-genai: the fast path of `--precision int8`.

Decoding a small LLM in eager PyTorch spends more time launching its ~600 small operations per
token than reading the weights (benchmarks/results/generation.md). onnxruntime-genai runs the model
as one ONNX graph with fused attention, norms and rotary embeddings, and int8 weight-only matmuls
(MatMulNBits, blocks of 32), so a token costs little more than reading the weights once.

The graph is built once per run by onnxruntime-genai's own model builder, from the run's weights
(a LoRA adapter merged first), into RUN/answering/int8/ beside model/, and rebuilt when the weights
change. Each conversation decodes in its own generator; rows join and leave as in models/decoding.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tailor.errors import ModelError

BUILT_FOR = "tailor-source.json"  # which weights the graph was built from


def int8_folder(answering: Path, model_dir: Path, model) -> Path:
    """The onnxruntime-genai int8 folder for `model` (whose saved weights are in `model_dir`), built
    into `answering`/int8 unless a build from the same weights is there already."""
    folder = answering / "int8"
    source = _source(model_dir)
    if (folder / BUILT_FOR).is_file() and json.loads((folder / BUILT_FOR).read_text()) == source:
        return folder
    from tailor.console import say

    say(f"--precision int8: building the int8 graph with onnxruntime-genai into {folder} (once, ~10 s)")
    with tempfile.TemporaryDirectory(prefix="tailor-int8-") as scratch:
        merged = Path(scratch) / "merged"
        _save_merged(model, model_dir, merged)
        built = Path(scratch) / "built"
        _build(merged, built)
        (built / BUILT_FOR).write_text(json.dumps(source))
        shutil.rmtree(folder, ignore_errors=True)
        folder.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(built), folder)  # whole or not at all: the record is written before the move
    return folder


class Int8Model:
    """The built graph, loaded; what `DecodeBatch` needs to know of a model (config, device) plus the
    onnxruntime-genai model its rows decode with."""

    def __init__(self, folder: Path, config, generation_config=None):
        import onnxruntime_genai as og

        og.disable_telemetry_events()  # no telemetry, whatever the platform would send
        self.og, self.model, self.config, self.folder = og, og.Model(_config(og, folder)), config, folder
        self.generation_config = generation_config  # its stop tokens (models/generation.py: stop_token_ids)

    def eval(self):
        return self


class Int8Rows:
    """One onnxruntime-genai generator per row, stepped together."""

    def __init__(self, model: Int8Model):
        self.model = model
        self.generators = []

    def start(self, replies) -> list[int]:
        """Prefill each new row's prompt and choose its first token."""
        og = self.model.og
        chosen = []
        for reply in replies:
            params = og.GeneratorParams(self.model.model)
            sampling = reply.sampling
            options = {"max_length": len(reply.prompt_ids) + sampling.max_new_tokens + 1,
                       "do_sample": sampling.temperature > 0}
            if sampling.temperature > 0:
                options.update(temperature=sampling.temperature, top_p=sampling.top_p, top_k=0)
                if sampling.seed is not None:
                    options["random_seed"] = sampling.seed
            params.set_search_options(**options)
            generator = og.Generator(self.model.model, params)
            generator.append_tokens([reply.prompt_ids])
            generator.generate_next_token()
            self.generators.append(generator)
            chosen.append(int(generator.get_next_tokens()[0]))
        return chosen

    def advance(self) -> list[int]:
        chosen = []
        for generator in self.generators:
            generator.generate_next_token()
            chosen.append(int(generator.get_next_tokens()[0]))
        return chosen

    def keep(self, indices: list[int]) -> None:
        self.generators = [self.generators[i] for i in indices]


def _config(og, folder: Path):
    """The graph's config, run on as many threads as torch uses: onnxruntime's own default left one
    of this machine's 2 cores idle, at half the speed (measured: 75-88 against 167-184 tokens/s)."""
    import torch

    config = og.Config(str(folder))
    config.overlay(json.dumps({"model": {"decoder": {"session_options": {
        "intra_op_num_threads": torch.get_num_threads()}}}}))
    return config


def _source(model_dir: Path) -> dict:
    import onnxruntime_genai as og

    from tailor.models.precision import weights_fingerprint

    return {"weights": weights_fingerprint(model_dir), "onnxruntime_genai": og.__version__}


def _save_merged(model, model_dir: Path, folder: Path) -> None:
    """Full weights for the builder: the run's model with its adapter merged (already, by
    for_answers), its tokenizer files and generation config."""
    model.save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "generation_config.json",
                 "special_tokens_map.json"):
        if (model_dir / name).is_file():
            shutil.copy(model_dir / name, folder / name)


def _build(merged: Path, out: Path) -> None:
    command = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(merged), "-o", str(out),
               "-p", "int8", "-e", "cpu"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0 or not (out / "genai_config.json").is_file():
        last = (done.stderr or done.stdout).strip().splitlines()
        raise ModelError(f"onnxruntime-genai could not build an int8 graph of this model "
                         f"({last[-1] if last else 'no output'}); answer with --precision fp32 or bf16")
