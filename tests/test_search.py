"""tailor search: a study in sqlite that trials join and a rerun continues, the config as written as
the first trial, data.test kept out of every trial and scored once, only the best model kept; a
killed search resumes; two processes share one study."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml

from tailor.config_sections import SearchRange
from tailor.training.search import PruningCallback, grid

SPACE = {"train.lr": {"low": 1e-3, "high": 1e-2, "log": True}, "train.batch_size": [16, 32]}


@pytest.fixture
def search_config(make_config, tmp_path):
    from conftest import sentiment_rows, write_csv

    write_csv(tmp_path / "test.csv", sentiment_rows(30, seed=3))

    def make(**search):
        return make_config(data={"test": "test.csv"}, train={"epochs": 2}, search={"space": SPACE, **search})

    return make


def _study(tmp_path: Path):
    storage = f"sqlite:///{tmp_path / 'config.search.db'}"
    return optuna.load_study(study_name="config", storage=storage)


def test_search_writes_the_study_the_best_config_and_the_report(search_config, cli, tmp_path):
    code, out, err = cli("search", search_config(), "--trials", "3")
    assert code == 0, err
    root = tmp_path / "runs" / "config"
    study = _study(tmp_path)  # beside the config file, named after it
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
    first = study.trials[0]
    assert first.params == {"train.lr": 3e-3, "train.batch_size": 16}  # the config as written comes first
    summary = json.loads((root / "metrics.json").read_text())
    assert [t["number"] for t in summary["trials"]] == [0, 1, 2] and summary["trials"][0]["default"] is True
    assert summary["best"]["number"] == study.best_trial.number
    assert summary["best"]["value"] == max(t.value for t in study.trials)
    # only the best trial keeps its model; no trial keeps checkpoints
    for number in range(3):
        trial_dir = root / f"trial-{number}"
        assert not (trial_dir / "checkpoints").exists()
        assert (trial_dir / "model").is_dir() == (number == study.best_trial.number)
        trial_metrics = json.loads((trial_dir / "metrics.json").read_text())
        assert "test" not in trial_metrics  # trials select on the evaluation split only
        assert study.trials[number].value == trial_metrics["eval"]["f1_macro"]
    assert summary["test"]["examples"] == 30 and summary["test"]["trial"] == study.best_trial.number
    best = yaml.safe_load((root / "best.yaml").read_text())
    assert best["train"]["lr"] == study.best_trial.params["train.lr"]
    assert best["data"]["test"] == str(tmp_path / "test.csv") and "search" not in best
    report = (root / "report.html").read_text()
    assert report.count("data:image/png;base64,") == 2 and "Trials" in report
    assert "(config as written)" in out and summary["verdict"] in out
    # the same command again has nothing left to run
    code, out, err = cli("search", search_config(), "--trials", "3")
    assert code == 0 and "the study has all its trials" in err + out and len(_study(tmp_path).trials) == 3


def test_a_killed_search_resumes_and_reruns_the_interrupted_trial(search_config, tmp_path, cli):
    config = search_config()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "tailor", "search", str(config), "--trials", "2"],
                               cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    second = tmp_path / "runs" / "config" / "trial-1" / "checkpoints"  # after its first epoch
    deadline = time.monotonic() + 240
    while not second.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert second.exists()
    process.send_signal(signal.SIGKILL)  # in the middle of trial 1
    process.wait()
    assert [t.state.name for t in _study(tmp_path).trials] == ["COMPLETE", "RUNNING"]
    code, out, err = cli("search", config, "--trials", "2")
    assert code == 0, err
    assert "trial 1 was left running by a process that is gone; it runs again" in err
    trials = _study(tmp_path).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "COMPLETE"]
    assert trials[2].params == trials[1].params and trials[2].user_attrs["retry_of"] == 1
    code, _, err = cli("search", config, "--trials", "3")  # continued: new values, not trial 1's again
    assert code == 0, err
    trials = _study(tmp_path).trials
    assert len(trials) == 4 and trials[3].params != trials[1].params
    assert not (tmp_path / "runs" / "config" / "trial-1" / "checkpoints").exists()


def test_two_processes_with_their_own_folders_share_one_study(search_config, tmp_path):
    config = search_config()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    processes = [subprocess.Popen([sys.executable, "-m", "tailor", "search", str(config), "--trials", "3",
                                   f"output.dir=runs/worker-{i}"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for i in (1, 2)]
    outputs = [p.communicate(timeout=600)[0] for p in processes]
    assert all(p.returncode == 0 for p in processes), outputs[0][-2000:] + outputs[1][-2000:]
    trials = _study(tmp_path).trials
    finished = [t for t in trials if t.state.name == "COMPLETE"]
    assert 3 <= len(finished) <= 4  # a process may start one trial before it sees the other's last
    ran = [{int(p.name.split("-")[1]) for p in (tmp_path / "runs" / f"worker-{i}").glob("trial-*")} for i in (1, 2)]
    assert ran[0] and ran[1] and not ran[0] & ran[1]  # both worked, never on the same trial
    drawn = [tuple(sorted(t.params.items())) for t in trials]
    assert len(set(drawn)) == len(drawn)  # nor on the same values (each folder seeds its own sampler)
    assert sum("default" in t.user_attrs for t in trials) == 1  # the config as written ran once
    assert ran[0] | ran[1] == {t.number for t in trials}
    for i in (1, 2):  # each summary lists every trial of the study, whichever process ran it
        summary = json.loads((tmp_path / "runs" / f"worker-{i}" / "metrics.json").read_text())
        assert {t["number"] for t in summary["trials"]} == {t.number for t in trials}


def test_space_errors_name_the_key(search_config, cli):
    code, _, err = cli("search", search_config(space={"train.lrr": [1e-3]}))
    assert code == 2 and err.strip() == ("error: search.space.train.lrr = 0.001: unknown key 'train.lrr' (did you "
                                         "mean 'lr'?)")
    code, _, err = cli("search", search_config(space={"train.batch_size": [8, -1]}))
    assert code == 2 and err.strip() == ("error: search.space.train.batch_size = -1: train.batch_size: Input should "
                                         "be greater than 0 (got -1)")
    code, _, err = cli("search", search_config(sampler="grid"))
    assert code == 2 and err.strip() == ("error: search.space.train.lr: search.sampler=grid needs its values: give a "
                                         "list, or a step for the range")
    code, _, err = cli("search", search_config(space={}))
    assert code == 2 and "search.space is empty; declare the settings to try" in err


def test_grid_spells_out_stepped_ranges():
    space = {"a": SearchRange(low=8, high=32, step=8), "b": SearchRange(low=0.0, high=0.3, step=0.1), "c": ["x"]}
    assert grid(space) == {"a": [8, 16, 24, 32], "b": [0.0, 0.1, 0.2, 0.3], "c": ["x"]}


def test_pruning_reports_each_evaluation_and_stops_a_hopeless_trial():
    class Trial:
        reported, prune = [], False

        def report(self, value, step):
            self.reported.append((value, step))

        def should_prune(self):
            return self.prune

    from transformers import TrainerState

    trial = Trial()
    callback = PruningCallback(trial, "f1_macro")
    state = TrainerState(max_steps=30, global_step=10)
    callback.on_evaluate(None, state, None, metrics={"eval_f1_macro": 0.5, "eval_loss": 0.7})
    callback.on_evaluate(None, state, None, metrics={"eval_loss": 0.7})  # no metric: nothing to report
    trial.prune = True
    state.global_step = 20
    with pytest.raises(optuna.TrialPruned, match="eval_f1_macro 0.6000 at evaluation 2"):
        callback.on_evaluate(None, state, None, metrics={"eval_f1_macro": 0.6})
    state.global_step = 30  # the last evaluation: reported, never pruned (the trial's work is done)
    callback.on_evaluate(None, state, None, metrics={"eval_f1_macro": 0.4})
    assert trial.reported == [(0.5, 1), (0.6, 2), (0.4, 3)]


@pytest.mark.parametrize("sampler", ["tpe", "random", "grid", "cmaes", "nsga2"])
def test_every_sampler_draws_values_inside_the_space(sampler, tmp_path):
    from tailor.config import load_config
    from tailor.training.search import open_study, suggest

    space = {"train.lr": {"low": 1e-4, "high": 1e-3, "step": 3e-4}, "train.batch_size": {"low": 8, "high": 32,
                                                                                      "step": 8},
             "train.scheduler": ["linear", "cosine"]}
    cfg = load_config(None, base={"task": "text-classification", "data": {"train": "x.csv"},
                                  "search": {"space": space, "sampler": sampler}})
    study, created = open_study(cfg, f"sqlite:///{tmp_path / 's.db'}", "s", greater_is_better=True)
    assert created and open_study(cfg, f"sqlite:///{tmp_path / 's.db'}", "s", greater_is_better=True)[1] is False
    drawn = []
    study.optimize(lambda trial: drawn.append(suggest(trial, cfg.search.space)) or 0.0, n_trials=6)
    for values in drawn:
        assert any(values["train.lr"] == pytest.approx(v) for v in (1e-4, 4e-4, 7e-4, 1e-3))
        assert values["train.batch_size"] in (8, 16, 24, 32) and values["train.scheduler"] in ("linear", "cosine")
    assert len(drawn) == 6
