"""Distillation: the soft-target loss against a hand computation, a student cut to fewer layers that
learns from a teacher run, the comparison of teacher, student alone and distilled student, and the
errors of a teacher that cannot teach this student."""

import json
import math

import pytest
import torch
from safetensors.torch import load_file

from tailor.data.examples import IGNORE
from tailor.training.distillation import Teacher, distillation_loss, soft_target_losses


def _softmax(values):
    exps = [math.exp(v) for v in values]
    return [e / sum(exps) for e in exps]


def test_soft_target_loss_matches_a_hand_computation():
    student, teacher, temperature = [1.0, 2.0, 0.0], [0.5, 0.1, 2.0], 2.0
    p_teacher = _softmax([v / temperature for v in teacher])
    p_student = _softmax([v / temperature for v in student])
    expected = temperature ** 2 * sum(t * (math.log(t) - math.log(s)) for t, s in zip(p_teacher, p_student))
    losses = soft_target_losses(torch.tensor([[student, [9.0, 0.0, 0.0]]]), torch.tensor([[teacher, [0.0, 0.0, 9.0]]]),
                                torch.tensor([[1, IGNORE]]), temperature)  # the IGNORE token is not a target
    assert losses.tolist() == pytest.approx([expected], rel=1e-5)
    same = soft_target_losses(torch.tensor([student]), torch.tensor([student]), torch.tensor([0]), temperature)
    assert same.tolist() == pytest.approx([0.0], abs=1e-7)


def test_the_loss_mixes_labels_and_teacher_by_alpha_over_the_same_count():
    logits = torch.tensor([[2.0, -1.0], [0.0, 1.0]])

    class Outputs:
        def __init__(self, logits):
            self.logits = logits

    class TeacherModel(torch.nn.Module):
        def forward(self, **inputs):
            return Outputs(torch.tensor([[-1.0, 3.0], [1.0, 0.5]]))

    def hard(model, inputs, num_items_in_batch=None):
        return torch.tensor(0.7), Outputs(logits)

    teacher = Teacher(TeacherModel(), [1, 0], None, None)  # the teacher's outputs in the other order
    inputs = {"input_ids": torch.zeros(2, 3), "labels": torch.tensor([0, 1])}
    loss, outputs = distillation_loss(hard, teacher, temperature=3.0, alpha=0.25)(None, inputs, num_items_in_batch=4)
    soft = soft_target_losses(logits, torch.tensor([[3.0, -1.0], [0.5, 1.0]]), inputs["labels"], 3.0).sum() / 4
    assert loss.item() == pytest.approx(0.75 * 0.7 + 0.25 * soft.item())
    assert outputs.logits is logits


@pytest.fixture
def teacher_run(make_config, cli, tmp_path):
    assert cli("train", make_config())[0] == 0
    return tmp_path / "runs" / "config"


def test_a_student_of_fewer_layers_learns_from_the_teacher_and_is_compared(make_config, cli, tmp_path, teacher_run):
    config = make_config(distill={"teacher": str(teacher_run), "student_layers": 1},
                         output={"dir": "runs/student"})
    code, out, err = cli("train", config)
    assert code == 0, err
    run = tmp_path / "runs" / "student"
    assert json.loads((run / "model" / "config.json").read_text())["num_hidden_layers"] == 1
    alone = run / "student-alone"
    assert json.loads((alone / "model" / "config.json").read_text())["num_hidden_layers"] == 1
    assert "distill" in (alone / "config.yaml").read_text() and "teacher: null" in (alone / "config.yaml").read_text()
    # same seed, same data, same start: only the teacher's answers differ between the two
    distilled, plain = load_file(run / "model" / "model.safetensors"), load_file(alone / "model" / "model.safetensors")
    assert not torch.equal(distilled["classifier.weight"], plain["classifier.weight"])
    comparison = json.loads((run / "metrics.json").read_text())["distillation"]
    assert [m["name"] for m in comparison["models"]] == ["teacher", "student alone", "distilled student"]
    teacher, alone_row, student = comparison["models"]
    assert teacher["parameters"] > student["parameters"] == alone_row["parameters"]
    taught = json.loads((teacher_run / "metrics.json").read_text())["eval"]["f1_macro"]
    assert teacher["metric"] == pytest.approx(taught, abs=5e-5) and taught >= 0.9
    assert comparison["data"] == "the evaluation data" and student["metric"] >= 0.9
    assert "<h2>Distillation</h2>" in (run / "report.html").read_text()
    assert "distillation, on the evaluation data:" in out and "distilled student" in out


def test_a_teacher_that_cannot_teach_this_student_is_refused(make_config, cli, tmp_path, teacher_run, tiny_llama):
    from conftest import write_csv

    write_csv(tmp_path / "three.csv", [{"text": "a b", "label": x} for x in ("yes", "no", "maybe")] * 4)
    student = {"dir": "runs/student"}
    code, _, err = cli("train", make_config(data={"train": "three.csv", "eval": 0.25},
                                            distill={"teacher": str(teacher_run)}, output=student))
    assert code == 2 and err.strip() == (f"error: distill.teacher: {teacher_run} does not know the labels 'maybe', "
                                         "'no', 'yes' (it answers with: negative, positive)")
    code, _, err = cli("train", make_config(model=str(tiny_llama), distill={"teacher": str(teacher_run)},
                                            output=student))
    assert code == 2 and err.strip().startswith(f"error: distill.teacher: {teacher_run} reads its inputs with another "
                                                "tokenizer (vocabulary) than the student")
    code, _, err = cli("train", make_config(distill={"student_layers": 2}, output=student))
    assert code == 2 and err.strip().splitlines()[-1] == ("error: distill.student_layers 2: the model has 2 layers; "
                                                          "keep between 1 and 1")
