import json
from pathlib import Path

import pytest

from tailor.config import MOVED_KEYS, Config, config_schema, load_config
from tailor.errors import ConfigError


def write(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_and_paths_relative_to_the_config_file(tmp_path):
    (tmp_path / "sub").mkdir()
    path = write(tmp_path / "sub", "task: text-classification\ndata: {train: d/train.csv}\n")
    cfg = load_config(path)
    assert cfg.data.train == tmp_path / "sub" / "d" / "train.csv"
    assert cfg.output.dir == Path("runs") / "exp"  # the default run folder is under the current directory
    written = load_config(write(tmp_path / "sub", "task: text-classification\ndata: {train: t.csv}\n"
                                                  "output: {dir: out}\n"))
    assert written.output.dir == tmp_path / "sub" / "out"
    assert cfg.data.eval == 0.1 and cfg.model.trust_remote_code is False
    assert cfg.train.freeze_embeddings and cfg.train.warmup_ratio == 0.06 and cfg.train.early_stopping_patience == 2
    # Left open in the file, decided per task (and model, and method) when training starts.
    assert cfg.method is None and cfg.train.lr is None and cfg.train.batch_size is None


@pytest.mark.parametrize("task, method, expected", [
    ("text-classification", None, {"method": "full", "lr": 5e-5, "batch_tokens": 1024, "batch_size": 256,
                                   "max_length": 128, "metric": "f1_macro", "model": "minilm"}),
    ("text-classification", "lora", {"method": "lora", "lr": 2e-4, "batch_tokens": 1024, "lr_reference_rows": 8}),
    # chat's rate is for its token budget whatever the rows: not scaled by them (no reference rows)
    ("chat", None, {"method": "lora", "lr": 2e-4, "batch_size": 64, "batch_tokens": 2048, "max_length": 512,
                    "metric": "loss", "lr_reference_rows": None,
                    "model": "smollm2", "targets": "all-linear"}),
    ("chat", "full", {"method": "full", "lr": 2e-5, "targets": "all-linear"}),
    ("token-classification", None, {"method": "full", "lr": 1e-4, "epochs": 5, "metric": "f1", "model": "minilm"}),
    ("token-classification", "lora", {"method": "lora", "lr": 2e-4}),  # LoRA keeps its own rate
])
def test_task_defaults_fill_what_the_config_leaves_open(tmp_path, task, method, expected):
    from tailor.tasks import get_task, resolve_config

    given = load_config(write(tmp_path, f"task: {task}\ndata: {{train: t.jsonl}}\n"),
                        [f"method={method}"] if method else [])
    untouched = given.model_dump()
    cfg = resolve_config(given, get_task(task))
    assert given.model_dump() == untouched  # filled on a copy: a loop of runs starts from the same config
    found = {"method": cfg.method, "lr": cfg.train.lr, "batch_size": cfg.train.batch_size,
             "batch_tokens": cfg.train.batch_tokens, "lr_reference_rows": cfg.train.lr_reference_rows,
             "max_length": cfg.data.max_length, "metric": cfg.eval.metric, "model": cfg.model.name,
             "targets": cfg.lora.targets, "epochs": cfg.train.epochs}
    assert {k: found[k] for k in expected} == expected
    explicit = load_config(write(tmp_path, f"task: {task}\ndata: {{train: t.jsonl}}\ntrain: {{batch_size: 3}}\n"))
    fixed = resolve_config(explicit, get_task(task)).train
    assert fixed.batch_size == 3 and fixed.batch_tokens is None  # what the file says wins: fixed rows


def test_dotted_overrides_parse_numbers_and_create_sections(tmp_path):
    path = write(tmp_path, "task: text-classification\nmodel: minilm\ndata: {train: t.csv}\n")
    cfg = load_config(path, ["train.lr=3e-5", "data.text=review", "method=lora", "lora.r=4", "model.revision=v1",
                             "train.early_stopping_patience=null"])
    assert cfg.train.lr == 3e-5 and cfg.data.text == "review" and cfg.method == "lora" and cfg.lora.r == 4
    assert cfg.model.name == "minilm" and cfg.model.revision == "v1"
    assert cfg.train.early_stopping_patience is None


def test_unknown_key_suggests_the_right_one(tmp_path):
    path = write(tmp_path, "task: text-classification\ndata: {train: t.csv}\ntrain: {learning_rate: 1}\n")
    with pytest.raises(ConfigError, match=r"unknown key 'train.learning_rate'"):
        load_config(path)
    path = write(tmp_path, "task: text-classification\ndata: {train: t.csv, lables: y}\n")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value) == f"{path}: unknown key 'data.lables' (did you mean 'label'?)"


def test_unknown_task_and_bad_values_are_one_line_errors(tmp_path):
    path = write(tmp_path, "task: text-clasification\ndata: {train: t.csv}\n")
    with pytest.raises(ConfigError, match="unknown task 'text-clasification' \\(did you mean 'text-classification'"):
        load_config(path)
    path = write(tmp_path, "task: text-classification\ndata: {train: t.csv}\n")
    with pytest.raises(ConfigError, match=r"train.lr: Input should be a valid number.*got 'fast'"):
        load_config(path, ["train.lr=fast"])
    with pytest.raises(ConfigError, match="data.train is required"):
        load_config(write(tmp_path, "task: text-classification\n"))
    with pytest.raises(ConfigError, match="write it as section.key=value"):
        load_config(path, ["train.lr"])


def test_missing_and_empty_config_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="the config file is empty"):
        load_config(write(tmp_path, ""))


def test_schema_lists_every_section():
    schema = config_schema()
    assert set(Config.model_fields) <= set(schema["properties"])
    assert schema["required"] == ["task"]
    json.dumps(schema)


def test_schema_cli(cli):
    code, out, _ = cli("config", "schema")
    assert code == 0 and "warmup_ratio" in json.loads(out)["$defs"]["TrainSection"]["properties"]
    code, out, _ = cli("config", "schema", "--task", "chat")
    schema = json.loads(out)
    assert code == 0 and "packing" in schema["$defs"]["ChatOptions"]["properties"] and "chat" in schema["properties"]
    assert "text_classification" not in schema["properties"]
    code, _, err = cli("config", "schema", "--task", "nope")
    assert code == 2 and "unknown task 'nope'" in err


@pytest.mark.parametrize("moved, to", [("data.packing=false", "chat.packing"), ("data.format=alpaca", "chat.format"),
                                       ("eval.prompts=p.jsonl", "chat.prompts"),
                                       ("eval.classical_baseline=false", "text_classification.classical_baseline")])
def test_keys_that_moved_say_where_to(tmp_path, moved, to):
    path = write(tmp_path, "task: chat\ndata: {train: t.jsonl}\n")
    with pytest.raises(ConfigError) as error:
        load_config(path, [moved])
    key = moved.split("=")[0]
    assert str(error.value) == f"{path}: {key} has moved to {to} (the section of the task that uses it); write it there"


def test_a_key_of_another_task_is_an_error_naming_the_task(tmp_path):
    path = write(tmp_path, "task: text-classification\ndata: {train: t.csv}\nchat: {packing: false}\n")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value) == (f"{path}: section 'chat' holds options of task chat, and this config's task is "
                                "text-classification; remove it (`tailor config schema --task text-classification` "
                                "lists the keys)")
    chat = write(tmp_path, "task: chat\ndata: {train: t.jsonl, label: y}\n")
    with pytest.raises(ConfigError) as error:
        load_config(chat)
    assert str(error.value) == f"{chat}: data.label does not apply to task chat (it reads no column keys)"
    cfg = load_config(write(tmp_path, "task: chat\ndata: {train: t.jsonl}\nchat: {packing: false, prompts: p.jsonl}\n"))
    assert cfg.options.packing is False and cfg.chat.prompts == tmp_path / "p.jsonl"  # relative to the config file


def test_eval_metric_must_be_one_of_the_tasks(tmp_path):
    from tailor.tasks import get_task, resolve_config

    cfg = load_config(write(tmp_path, "task: text-classification\ndata: {train: t.csv}\neval: {metric: rmse}\n"))
    with pytest.raises(ConfigError) as error:
        resolve_config(cfg, get_task("text-classification"))
    assert str(error.value).startswith("eval.metric=rmse is not a metric of task text-classification (it has: "
                                       "f1_macro, accuracy,")


FILE_EXTENSIONS = {"onnx", "json", "yaml", "safetensors", "gguf"}
API_NAMES = {"chat.completion"}  # OpenAI's object type, which the server answers with


def test_every_config_key_named_in_a_message_exists():
    """Advice such as "set data.format=..." must name a key the config has (keys move between sections)."""
    import ast
    import re
    from pathlib import Path

    from tailor.config import config_class
    from tailor.tasks import TASKS

    sections = {}
    for task in TASKS:
        for name, field in config_class(task).model_fields.items():
            annotation = field.annotation
            if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
                sections.setdefault(name, set()).update(annotation.model_fields)
    pattern = re.compile(rf"(?<![\w/.-])({'|'.join(sections)})\.([a-z_]+)\b(?!\.)")
    wrong = []
    for path in Path(__file__).parents[1].joinpath("src", "tailor").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                wrong += [f"{path.name}: {s}.{k}" for s, k in pattern.findall(node.value) if k not in sections[s]
                          and k not in FILE_EXTENSIONS  # model.onnx is a file, not a key
                          and f"{s}.{k}" not in API_NAMES
                          and not (path.name == "config.py" and f"{s}.{k}" in MOVED_KEYS)]
    assert not wrong
