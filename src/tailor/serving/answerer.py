"""A run (or an hf / ONNX export of one) loaded to answer: `tailor predict`, `tailor chat` and
`tailor serve` all start here, so they answer alike and in the precision chosen."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tailor.errors import ConfigError


@dataclass
class Answerer:
    folder: Path
    cfg: Any
    task: Any
    model: Any
    processor: Any
    precision: str  # what is used: fp32, bf16, int8, or onnx
    precision_note: str  # how it was chosen, one line

    @property
    def generates(self) -> bool:
        return self.task.targets == "text"

    @property
    def name(self) -> str:
        return self.folder.resolve().name

    def predict(self, examples, batch_size: int | None = None, mc_samples: int | None = None) -> list[dict]:
        """The task's answers, each with its input text first (as it reads best in a file of answers);
        `mc_samples`: answered by Monte Carlo dropout with that many samples (classification runs)."""
        batch_size = batch_size or self.cfg.eval.batch_size
        if mc_samples:
            answers = self._uncertain(examples, batch_size, mc_samples)
        else:
            answers = self.task.predict(self.model, self.processor, examples, self.cfg, batch_size)
        if "text" in examples.columns:
            answers = [answer if "text" in answer else {"text": text, **answer}
                       for answer, text in zip(answers, examples.columns["text"])]
        return answers

    def _uncertain(self, examples, batch_size: int, samples: int) -> list[dict]:
        import torch

        if not hasattr(self.task, "predict_uncertain"):
            raise ConfigError(f"--uncertainty mc-dropout: for classification runs (one class per input); this is a "
                              f"{self.task.name} run")
        if not isinstance(self.model, torch.nn.Module):
            raise ConfigError("--uncertainty mc-dropout needs the run's PyTorch model (its dropout layers); an ONNX "
                              "export has none: point predict at the run folder")
        from tailor.console import say

        answers = self.task.predict_uncertain(self.model, self.processor, examples, self.cfg, batch_size, samples)
        rates = ", ".join(f"{r:g}" for r in answers[0]["uncertainty"]["dropout"]) if answers else ""
        say(f"MC dropout: each input answered {samples} times with the model's own dropout rate {rates} (from its "
            f"config); 'probabilities' are the means, 'spread' their standard deviations")
        return answers

    def with_generation(self, **settings) -> None:
        """chat.* generation settings (max_new_tokens, temperature, top_p) for this session; None keeps
        the run's."""
        given = {k: v for k, v in settings.items() if v is not None}
        if given and not self.generates:
            flags = ", ".join("--" + k.replace("_", "-") for k in given)
            raise ConfigError(f"{flags}: generation settings are for chat runs; this is a {self.task.name} run")
        if given:
            from tailor.config import section_name

            options = self.cfg.options.model_copy(update=given)
            self.cfg = self.cfg.model_copy(update={section_name(self.cfg.task): options})


def load_answerer(target: str | Path, precision: str = "fp32") -> Answerer:
    from tailor.console import say
    from tailor.serving.precision_check import answering_model
    from tailor.verbs.common import load_run

    folder = Path(target)
    cfg, task, model, processor = load_run(folder)
    model, used, note = answering_model(precision, folder, cfg, task, model, processor)
    if precision != "fp32":  # the default, lossless, goes without saying (serve reports it in /health)
        say(f"answering in {note}")
    return Answerer(folder, cfg, task, model, processor, used, note)


def examples_from_texts(texts: list[str], text_pairs: list[str] | None, trained_pair_column: str | None,
                        names: tuple[str, str] = ("--text", "--text-pair")):
    """Examples of texts given directly (`names`: what the command line or a request calls a text and
    its pair), checked against the run: a run trained on pairs answers pairs only (and one trained on
    single texts, single texts), as the other kind would be read as something it never saw."""
    from tailor.data.examples import Examples

    text, pair = names
    if trained_pair_column and not text_pairs:
        raise ConfigError(f"this run was trained on text pairs (data.text_pair={trained_pair_column}); give a "
                          f"second text for every {text} with {pair}")
    if text_pairs and not trained_pair_column:
        raise ConfigError(f"this run was trained on single texts (no data.text_pair); leave out {pair}")
    if text_pairs and len(text_pairs) != len(texts):
        raise ConfigError(f"{len(texts)} {text} but {len(text_pairs)} {pair}; give one {pair} per {text}, "
                          "in the same order")
    columns = {"text": list(texts)}
    if text_pairs:
        columns["text_pair"] = list(text_pairs)
    where = text.lstrip("-")
    return Examples(Path("<command line>" if text.startswith("--") else "<request>"), columns,
                    [f"{where} {i + 1}" for i in range(len(texts))])
