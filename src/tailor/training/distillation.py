"""Knowledge distillation (the distill: section): the model being trained, the student, learns the
labels and a trained teacher's answers at once (Hinton et al. 2015):

    loss = alpha x T^2 x KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) x labels' loss

per trained target (a row, or a tagged token), summed and divided by the same count as the labels'
loss, so accumulation and several processes weigh it as they weigh that. T^2 keeps the soft term's
gradients on the hard term's scale as T changes. The teacher answers each batch as it comes (no
gradient), so augmented rows and every epoch's batches get its answers; it must therefore read the
inputs as the student does."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from tailor.config import Config
from tailor.data.examples import IGNORE
from tailor.errors import ConfigError
from tailor.training.losses import per_target


@dataclass
class Teacher:
    model: torch.nn.Module
    order: list[int]  # the teacher's output index of each of the student's labels
    location: Path  # the weights' folder (a run's model/), for its size on disk
    processor: object

    def logits(self, inputs: dict) -> torch.Tensor:
        with torch.no_grad():
            logits = self.model(**{k: v for k, v in inputs.items() if k != "labels"}).logits
        return logits[..., self.order]


def check_distillable(task, cfg: Config) -> None:
    """Before any data is read: a teacher's answers are class probabilities, per row or per token."""
    if cfg.distill.teacher and task.targets not in ("classes", "tags"):
        raise ConfigError(f"distill.teacher: for tasks that answer with classes or tags (text, token and image "
                          f"classification); task {task.name} learns {task.targets}")
    if cfg.distill.teacher and cfg.train.strategy == "few-shot":
        raise ConfigError("distill.teacher: not with train.strategy=few-shot (its head is fitted by logistic "
                          "regression, not with the engine's loss)")


def load_teacher(task, cfg: Config, labels: list[str], processor) -> Teacher:
    """The teacher of distill.teacher: a run folder of the same task, or a model folder / hub id."""
    from tailor.runs import RunDir
    from tailor.verbs.common import on_device

    where = cfg.distill.teacher
    run = RunDir(Path(where))
    trust = {"trust_remote_code": cfg.model.trust_remote_code}
    if run.config.is_file():
        from tailor.config import load_config

        taught = load_config(run.config).task
        if taught != task.name:
            raise ConfigError(f"distill.teacher: {where} is a {taught} run; the student learns {task.name}")
        location = run.require_model()
    else:
        from tailor.models.resolve import resolve_model

        location = Path(resolve_model(where).location)
    model = task.load_model(location, **trust)
    teacher_processor = task.processor(str(location), cfg, **trust)
    _check_same_inputs(processor, teacher_processor, where)
    model.eval().requires_grad_(False)
    return Teacher(on_device(model), _label_order(model, labels, where), location, teacher_processor)


def _label_order(model, labels: list[str], where: str) -> list[int]:
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    missing = [label for label in labels if label not in names]
    if missing:
        raise ConfigError(f"distill.teacher: {where} does not know the label{'s' if len(missing) > 1 else ''} "
                          f"{', '.join(repr(m) for m in missing[:5])} (it answers with: {', '.join(names[:10])})")
    return [names.index(label) for label in labels]


def _check_same_inputs(student, teacher, where: str) -> None:
    """The teacher answers the student's batches: its tokenizer (vocabulary) or image processor
    (sizes, normalisation) must be the student's."""
    if hasattr(student, "get_vocab"):
        same = student.get_vocab() == teacher.get_vocab()
        what = "tokenizer (vocabulary)"
    else:
        ignore = {"processor_class", "image_processor_type"}
        same = ({k: v for k, v in student.to_dict().items() if k not in ignore} ==
                {k: v for k, v in teacher.to_dict().items() if k not in ignore})
        what = "image processor (size, normalisation)"
    if not same:
        raise ConfigError(f"distill.teacher: {where} reads its inputs with another {what} than the student; the "
                          "teacher answers the student's batches, so pick a student of the teacher's family (e.g. "
                          "its own model cut with distill.student_layers)")


def distillation_loss(hard_loss, teacher: Teacher, temperature: float, alpha: float):
    """The task's loss (`hard_loss`: (model, inputs, num_items_in_batch) -> (loss, outputs)) mixed with
    the teacher's softened answers, as the module docstring says."""

    def loss(model, inputs: dict, num_items_in_batch=None):
        hard, outputs = hard_loss(model, inputs, num_items_in_batch)
        labels = inputs["labels"]
        soft = soft_target_losses(outputs.logits, teacher.logits(inputs), labels, temperature).sum()
        return (1 - alpha) * hard + alpha * per_target(soft, num_items_in_batch, labels != IGNORE), outputs

    return loss


def soft_target_losses(student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor,
                       temperature: float) -> torch.Tensor:
    """T^2 x KL(softmax(teacher / T) || softmax(student / T)) of every trained target (labels not IGNORE)."""
    classes = student.shape[-1]
    kept = labels.reshape(-1) != IGNORE
    student = student.reshape(-1, classes)[kept].float() / temperature
    teacher = teacher.reshape(-1, classes)[kept].float() / temperature
    kl = F.kl_div(F.log_softmax(student, -1), F.log_softmax(teacher, -1), reduction="none", log_target=True)
    return kl.sum(-1) * temperature ** 2
