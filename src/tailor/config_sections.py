"""The sections of the run config, grouped by concern (model, method, data, train, eval, output,
distill, search); config.py assembles them into Config, with each task's own section, and loads
YAML into it. Every field has a default a practitioner would pick, and says what it does."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelSection(Section):
    name: str | None = Field(None, description="embedded alias (see `tailor models`), local folder or hub id, or "
                                                "auto: the task's embedded model where it reads the training "
                                                "text, else each embedded model for the task tried on 200 "
                                                "examples of up to 128 tokens and the best trained (`tailor "
                                                "data check` shows the measurements); default: the task's "
                                                "embedded model")
    auto: bool = Field(False, description="set by `model: auto` (the name then is the model it picked): after "
                                          "training, a classical model (TF-IDF + logistic regression) that scores "
                                          "better on eval.metric becomes the run's model, the fine-tuned one kept "
                                          "in RUN/fine-tuned/ (text classification)")
    revision: str | None = Field(None, description="hub revision (branch, tag or commit) for a hub id")
    trust_remote_code: bool = Field(False, description="run model code from the hub; off for safety")
    dropout: float | None = Field(None, ge=0, lt=1, description="dropout inside the model while training (hidden "
                                                                "states, attention, task head); default per "
                                                                "task: 0 for classification (BERT ships 0.1), "
                                                                "the model's own for chat")
    attention: Literal["auto", "eager", "sdpa"] = Field(
        "auto", description="attention kernel while training: auto = the one measured fastest for the task on "
                            "this device (eager for classification on a CPU), else transformers' default (sdpa)")


class FreezeSection(Section):
    layers: int = Field(0, ge=0, description="method=freeze: how many top encoder layers stay trainable "
                                            "(0 = only the classification head trains)")


class LoraSection(Section):
    r: int = Field(8, gt=0, description="rank of the low-rank update")
    alpha: int = Field(16, gt=0, description="scaling numerator (update is scaled by alpha/r)")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout on each adapter's input; 0 (peft's, "
                                                        "LLaMA-Factory's and Unsloth's default) because on a CPU "
                                                        "its random masks cost ~45% of a SmolLM2 LoRA step "
                                                        "(benchmarks/README.md)")
    targets: list[str] | Literal["all-linear"] | None = Field(
        None, description="module names to adapt, or all-linear; default: per task (attention query/value "
                          "for classifiers, all-linear for chat models)")


def _strictly_between_0_and_1(value, message: str):
    """A number given where a word (or a file) may also stand must lie in (0, 1)."""
    if isinstance(value, float) and not 0 < value < 1:
        raise ValueError(message)
    return value


class DataSection(Section):
    """Files and column names: what every task has. A task reads only the columns it declares
    (Task.columns); setting another one is an error that names the task."""

    train: Path | None = Field(None, description="training file: .csv .tsv .jsonl .json .parquet, a `datasets` "
                                                 "folder saved with save_to_disk, or a task's own format (CoNLL, "
                                                 "a folder of images with one sub-folder per class)")
    eval: Path | float = Field(0.1, description="evaluation file, or a fraction of train held out "
                                                "(stratified by label where the task has one, fixed seed)")
    test: Path | None = Field(None, description="optional test file, evaluated once at the end (never used to "
                                                "pick a checkpoint); its scores go to metrics.json `test`")
    text: str = Field("text", description="column with the input text")
    text_pair: str | None = Field(None, description="optional column with a second text (e.g. premise/hypothesis)")
    label: str = Field("label", description="column with the label (string or integer)")
    tokens: str = Field("tokens", description="column with a list of tokens (token classification, JSON rows)")
    tags: str = Field("tags", description="column with one tag per token (token classification, JSON rows)")
    spans: str = Field("spans", description="column with character-offset entity spans [{start, end, label}] "
                                            "beside data.text (token classification, JSON rows)")
    image: str = Field("image", description="column with the image's path, relative to the data file (image "
                                            "tasks, CSV/JSONL rows), or the Image feature of a `datasets` folder")
    head: str = Field("head", description="column with the first entity of the pair: its text (found in data.text) "
                                          "or its character span [start, end] (relation extraction)")
    tail: str = Field("tail", description="column with the second entity of the pair, as data.head (relation "
                                          "extraction)")
    head_type: str = Field("head_type", description="column with the first entity's type, e.g. PER (relation "
                                                    "extraction; optional: untyped markers when the file lacks it)")
    tail_type: str = Field("tail_type", description="column with the second entity's type (relation extraction; "
                                                    "optional)")
    question: str = Field("question", description="column with the question (question answering)")
    context: str = Field("context", description="column with the text that may hold the answer (question "
                                                "answering)")
    answers: str = Field("answers", description="column with the answers: {\"text\": [...], \"answer_start\": "
                                                "[...]} (character offsets in the context; empty: unanswerable) "
                                                "(question answering; SQuAD's own JSON is read as it is)")
    id: str = Field("id", description="column with each question's unique id (question answering; optional: "
                                      "numbered in file order when absent)")
    source: str = Field("source", description="column with the input text (seq2seq)")
    target: str = Field("target", description="column with the output text the model should write (seq2seq)")
    source_lang: str | None = Field(None, description="with rows shaped {\"translation\": {\"en\": ..., \"de\": "
                                                      "...}}: the language key of the input (seq2seq)")
    target_lang: str | None = Field(None, description="with such rows: the language key of the output (seq2seq)")
    max_length: int | None = Field(None, gt=1, description="longest input in tokens; longer ones are truncated, "
                                                           "split or dropped as the task says, and counted; "
                                                           "default per task")
    encoding: str = Field("utf-8", description="text encoding of CSV/TSV/JSON files, e.g. latin-1")
    on_invalid: Literal["error", "skip"] = Field("error", description="a row with an empty text or label: stop "
                                                                      "with an error, or skip it and report how many")
    sampling: Literal["none", "oversample", "undersample"] = Field(
        "none", description="rebalance the training split only (evaluation and test data are never resampled), "
                            "for tasks that learn classes or tags: oversample = repeat examples of the smaller "
                            "classes until each has as many as the largest; undersample = keep as many of each "
                            "class as the smallest has (a tagged sentence counts as its rarest entity type). "
                            "Random, seeded by train.seed (imbalanced-learn); the counts are printed")

    max_samples: int | None = Field(None, gt=0, description="use at most this many examples of each split (train, "
                                                          "eval, test), drawn at random (train.seed): a quick "
                                                          "trial of a big file; the run says how many it left out")

    @field_validator("eval")
    @classmethod
    def _fraction_in_range(cls, value):
        return _strictly_between_0_and_1(value, "a held-out fraction must be between 0 and 1, e.g. 0.1")


# Column keys of the data section: each task declares which of them it reads.
COLUMN_KEYS = ("text", "text_pair", "label", "tokens", "tags", "spans", "image", "head", "tail", "head_type",
               "tail_type", "question", "context", "answers", "id", "source", "target", "source_lang", "target_lang")


class TrainSection(Section):
    epochs: float | None = Field(None, gt=0, description="passes over the training data; default per task "
                                                         "(3; 5 for token classification)")
    max_steps: int | None = Field(None, gt=0, description="stop after this many optimizer steps (overrides epochs)")
    batch_size: int | None = Field(None, gt=0, description="rows per step in each process (packed rows for "
                                                           "chat; with train.batch_tokens, the most rows a step "
                                                           "may take); the global batch is this x processes x "
                                                           "grad_accum; default per task: 16 for images, 256 "
                                                           "(64 for chat) as the cap of token-budget batches")
    batch_tokens: int | None = Field(None, gt=0, description="token budget of a step in each process (rows x "
                                                             "the step's longest row): rows of one length are "
                                                             "batched together, as many as fit (short texts many, "
                                                             "long ones few), up to train.batch_size rows; default "
                                                             "per task (1024 for text and token classification, "
                                                             "2048 for chat, unless train.batch_size is set: then "
                                                             "fixed batches of that many rows)")
    lr: float | None = Field(None, gt=0, description="peak learning rate; default: 2e-4 for LoRA, else the "
                                                     "embedded model's tuned value, else 5e-5")
    lr_reference_rows: int | None = Field(None, gt=0, description="the rows per step train.lr was tuned at; with "
                                                                  "token-budget batches the rate used is train.lr "
                                                                  "x sqrt(mean rows per step / this) (Adam's "
                                                                  "square-root rule). Set by tailor when it picks "
                                                                  "the default rate (8; chat: null, its rate is for "
                                                                  "its token budget); null uses train.lr as it is")
    grad_accum: int = Field(1, gt=0, description="gradient accumulation steps")
    strategy: Literal["standard", "few-shot"] = Field(
        "standard", description="how training proceeds (method says which weights train): standard = fine-tune "
                                "with the loss on the labels; few-shot = SetFit's recipe for a handful of "
                                "examples per class (text classification with a BERT-family sentence encoder such "
                                "as the embedded MiniLM): a contrastive stage on pairs of texts, then a "
                                "logistic-regression head (text_classification.few_shot has its settings)")
    warmup_ratio: float = Field(0.06, ge=0, lt=1, description="fraction of steps with linear warm-up")
    scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup", "polynomial"] = "linear"
    weight_decay: float = Field(0.01, ge=0)
    max_grad_norm: float = Field(1.0, gt=0, description="gradient clipping")
    seed: int = 42
    early_stopping_patience: int | None = Field(2, ge=1, description="evaluations without improvement before "
                                                                      "stopping; null turns it off")
    restore_best: bool = Field(True, description="at the end, go back to the checkpoint that scored best on the "
                                                 "evaluation split (false: keep the model of the last step; "
                                                 "--folds sets false, because a fold's evaluation split is also "
                                                 "the one that scores it)")
    optimizer: Literal["adamw_torch_fused", "adamw_torch", "adafactor", "sgd", "rmsprop"] = Field(
        "adamw_torch_fused", description="AdamW in one fused kernel per step (torch >= 2.4, CPU and GPU): same "
                                         "update, about 25% faster steps at batch 8 on a 2-core CPU; or AdamW "
                                         "unfused, Adafactor, SGD (with train.momentum), RMSprop")
    momentum: float | None = Field(None, ge=0, lt=1, description="momentum of optimizer sgd (default 0.9) or rmsprop "
                                                                "(default 0)")
    layer_lr_decay: float | None = Field(None, gt=0, le=1, description="layer-wise learning-rate decay: the head "
                                                                      "trains at train.lr, the top layer at lr x "
                                                                      "this, each layer below at this times the "
                                                                      "one above, the embeddings lowest (e.g. 0.8; "
                                                                      "unset: one rate for all)")
    l1: float = Field(0.0, ge=0, description="L1 penalty beside weight decay: this x the sum of absolute values of "
                                             "the trained weight matrices is added to the loss (sparser weights)")
    adversarial: Literal["none", "fgm", "pgd"] = Field(
        "none", description="adversarial training on the input token embeddings (text tasks), for robustness to "
                            "small changes of wording (`tailor eval --robustness` measures it): each step also "
                            "trains on the batch with its word embeddings pushed in the direction that raises the "
                            "loss most. fgm = one push of norm train.adversarial_epsilon (Miyato et al. 2017; a "
                            "step costs about 2x); pgd = train.adversarial_steps pushes of train.adversarial_alpha "
                            "each, kept within epsilon (Madry et al. 2018; about (steps + 1)x)")
    adversarial_epsilon: float = Field(0.1, gt=0, description="L2 norm of the push (fgm) or its bound (pgd), over "
                                                             "all tokens and dimensions of a row's word embeddings "
                                                             "(a 12-token tweet's are about 3.5 in MiniLM; 1.0 "
                                                             "collapsed it to the majority class: "
                                                             "benchmarks/results/adversarial_tweets.md)")
    adversarial_steps: int = Field(3, ge=1, description="train.adversarial=pgd: pushes before the loss is taken")
    adversarial_alpha: float = Field(0.04, gt=0, description="train.adversarial=pgd: L2 norm of each push (the sum "
                                                           "is projected back onto train.adversarial_epsilon)")
    freeze_embeddings: bool = Field(True, description="keep the input word embeddings fixed (method full/lora): "
                                                      "words absent from your data keep their pretrained meaning, "
                                                      "and steps are faster (no update of the largest matrix); "
                                                      "where the output head shares it (SmolLM2), the head too")
    gradient_checkpointing: bool | None = Field(None, description="recompute activations in the backward pass: "
                                                                   "less memory, about 30% more compute; default "
                                                                   "per task (on for chat, off for classification)")
    class_weights: Literal["none", "auto"] | dict[str, float] = Field(
        "none", description="weight of each class (tag) in the loss, for tasks that learn classes or tags: none; "
                            "auto = inverse frequency in the training data, n / (classes x count), as "
                            "scikit-learn's 'balanced' (mean weight 1); or {label: weight} (labels not named keep 1)")
    loss: Literal["ce", "focal"] = Field("ce", description="for tasks that learn classes or tags: cross-entropy, or "
                                                         "focal loss (cross-entropy x (1 - p)^train.focal_gamma: "
                                                         "confident right answers count less)")
    focal_gamma: float = Field(2.0, ge=0, description="focusing parameter of train.loss=focal (0 = cross-entropy)")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="auto = bf16 mixed precision where the hardware computes bf16 natively "
                            "(CPU with AVX512-BF16/AMX, recent GPUs), else fp32; on a CPU a task may have "
                            "measured otherwise (image classification: fp32 with channels-last weights)")


    @model_validator(mode="after")
    def _early_stopping_restores(self):
        if not self.restore_best and self.early_stopping_patience:
            raise ValueError("early stopping goes back to the best checkpoint; with restore_best: false set "
                             "early_stopping_patience: null")
        return self


class EvalSection(Section):
    bootstrap: int = Field(1000, ge=0, description="resamples behind the bootstrap 95 % intervals of the headline "
                                                   "scores in metrics.json and the report (0: no intervals; fewer "
                                                   "is faster on a large evaluation set)")
    metric: str | None = Field(None, description="metric that picks the best checkpoint and drives early "
                                                 "stopping; one of the task's metrics (`tailor tasks`), or loss; "
                                                 "default per task")
    strategy: Literal["epoch", "steps"] = "epoch"
    steps: int = Field(500, gt=0, description="evaluate (and checkpoint) every N steps when strategy=steps")
    batch_size: int | None = Field(None, gt=0, description="rows per evaluation/prediction batch; default per "
                                                           "task (128; 8 packed rows for chat)")
    threshold: Literal["none", "tune"] | float = Field(
        "none", description="two-class tasks: the decision threshold on eval.positive_label's probability. none = "
                            "the larger probability wins (0.5); tune = the threshold that maximises eval.metric "
                            "(macro F1 when that is loss or roc_auc) on the evaluation split; or a number in (0, 1). "
                            "Folded into the saved model's output layer, so predict, serve and exports answer with "
                            "it; scores on the evaluation split are then optimistic, data.test's are not")
    positive_label: str | None = Field(None, description="the class eval.threshold is a threshold on; default: the "
                                                         "less frequent class of the training data")
    calibrate: Literal["none", "temperature"] = Field(
        "none", description="temperature = divide the logits by one number fitted on the evaluation split (lowest "
                            "log-loss; Guo et al. 2017), so the probabilities mean what they say; never changes "
                            "which class wins. Folded into the saved model; expected calibration error before and "
                            "after is reported on data.test when given, else on the evaluation split")
    explain_examples: int = Field(4, ge=0, description="evaluation examples report.html explains (which words or "
                                                       "pixels drove the answer; integrated gradients), half of them "
                                                       "wrong answers where there are any; text and image "
                                                       "classification; 0 turns it off (the default with a causal "
                                                       "LM such as SmolLM2 as the backbone: minutes on a CPU)")

    @field_validator("threshold")
    @classmethod
    def _threshold_in_range(cls, value):
        return _strictly_between_0_and_1(value, "a fixed threshold is a probability between 0 and 1, e.g. 0.3; or "
                                                "tune, or none")


class OutputSection(Section):
    dir: Path | None = Field(None, description="run folder; default runs/<config file name>")
    keep_checkpoints: int = Field(2, ge=1, description="checkpoints kept (the best one is always kept)")


class DistillSection(Section):
    """Knowledge distillation, beside any method: the model (the student) also learns the answers of
    a trained teacher, softened by a temperature (Hinton et al. 2015)."""

    teacher: str | None = Field(None, description="a run folder of the same task (or a fine-tuned model folder or "
                                                  "hub id) whose answers the model learns beside the labels; it "
                                                  "must read inputs as the model does (the same tokenizer or image "
                                                  "processor) and know every label")
    temperature: float = Field(2.0, gt=0, description="both models' logits are divided by it before the "
                                                      "softmax: higher shows more of the teacher's view of the "
                                                      "wrong classes")
    alpha: float = Field(0.5, ge=0, le=1, description="loss = alpha x temperature^2 x KL(teacher || student) + "
                                                      "(1 - alpha) x the labels' loss (train.loss, "
                                                      "train.class_weights)")
    student_layers: int | None = Field(None, gt=0, description="cut the model to its first N transformer layers "
                                                               "before training: a smaller, faster student (the "
                                                               "embedded MiniLM has 6); with or without a teacher")
    compare: bool = Field(True, description="with a teacher: also train the student alone (this config without "
                                            "the teacher) into student-alone/, and compare teacher, student alone "
                                            "and distilled student on the metric, size and latency in the report")


class SearchRange(Section):
    """A numeric range of search.space: integers when low and high are (and step, if given)."""

    low: int | float
    high: int | float
    log: bool = Field(False, description="sample on a log scale (learning rates, weight decay)")
    step: int | float | None = Field(None, gt=0, description="sample on a grid of this spacing (what "
                                                             "search.sampler=grid needs of a range)")

    @model_validator(mode="after")
    def _ordered(self):
        if not self.low < self.high:
            raise ValueError(f"a range needs low < high (got low {self.low}, high {self.high})")
        if self.log and self.low <= 0:
            raise ValueError("a log-scale range needs low > 0")
        return self


class SearchSection(Section):
    """`tailor search`: which settings to try (Optuna), and where the study lives."""

    space: dict[str, SearchRange | list[Any]] = Field(
        default_factory=dict, description="the settings to search, by dotted key: a range {low, high, log, step} "
                                          "or a list of choices, e.g. {train.lr: {low: 1e-5, high: 1e-3, log: true}, "
                                          "train.batch_size: [8, 16, 32]}")
    trials: int = Field(20, gt=0, description="finished trials the study should reach (--trials overrides); "
                                              "several processes on one study share the count")
    sampler: Literal["tpe", "random", "grid", "cmaes", "nsga2"] = Field(
        "tpe", description="how Optuna picks the next trial: tpe (Bayesian, the default), random, grid (every "
                           "combination of lists and stepped ranges), cmaes (numeric ranges), nsga2 (genetic)")
    pruner: Literal["median", "none"] = Field(
        "median", description="stop a trial whose evaluation metric at an evaluation is worse than the median of "
                              "earlier trials at the same point (after 2 trials and its first evaluation); none")
    storage: str | None = Field(None, description="Optuna storage URL shared by every process of the search; "
                                                  "default sqlite:///<config folder>/<config name>.search.db")
    study: str | None = Field(None, description="study name; default: the config file's name (not output.dir, so "
                                                "processes with different output folders join one study)")
    seed: int | None = Field(None, description="the sampler's seed (default train.seed), mixed with output.dir and "
                                               "the study's trials so far, so that processes with their own "
                                               "folders, and a continued search, draw new trials")
