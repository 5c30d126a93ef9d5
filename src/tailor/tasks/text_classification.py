"""Text classification: one label per text, or per pair of texts (sentiment, topic, intent, NLI)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field as Option

from tailor.config import Config, Section, TaskOptions
from tailor.data.examples import Examples
from tailor.data.loading import TaskData, read_columns
from tailor.models.catalog import DEFAULT_LR_ROWS, register_own_architectures
from tailor.tasks.base import CLASS_METRICS, Encoded, Field, OneLabelPerInput, TokenizedText


class TextAugmentOptions(Section):
    """EDA-style copies of the training texts (Wei & Zou 2019); evaluation and test texts are never changed."""

    copies: int = Option(0, ge=0, description="changed copies of each training text added to the training split "
                                             "(0: no augmentation); each copy gets one operation drawn from ops")
    rate: float = Option(0.1, gt=0, le=0.5, description="share of a text's words an operation touches (at least one)")
    ops: list[Literal["delete", "swap", "chars", "synonym"]] = Option(
        ["delete", "swap", "chars"], min_length=1, description="delete = drop words, swap = swap words, chars = "
                                                               "mistype characters, synonym = replace words by "
                                                               "synonyms (from augment.synonyms)")
    synonyms: Literal["wordnet", "embeddings"] = Option(
        "wordnet", description="where synonyms come from: wordnet = Debian's wordnet-base files (read by nltk; "
                               "senses, never antonyms); embeddings = nearest words in the model's own input "
                               "embeddings (no files, but antonyms are near: not for polarity labels)")
    wordnet_dir: Path | None = Option(None, description="folder of the WordNet database (default /usr/share/wordnet)")


class FewShotOptions(Section):
    """train.strategy=few-shot (SetFit's recipe; training/few_shot.py)."""

    pairs_per_example: int = Option(20, ge=0, description="contrastive pairs per training text and epoch: this many "
                                                         "with a text of its class and as many with other classes "
                                                         "(SetFit's num_iterations); 0 fits the head alone")
    epochs: int = Option(1, gt=0, description="passes over the pairs")
    batch_size: int = Option(16, gt=0, description="pairs per step")
    lr: float = Option(2e-5, gt=0, description="learning rate of the encoder in the contrastive stage")


class TextClassificationOptions(TaskOptions):
    classical_baseline: bool = Option(True, description="also fit TF-IDF + logistic regression, the bar a "
                                                        "fine-tuned model has to clear")
    augment: TextAugmentOptions = Option(default_factory=TextAugmentOptions,
                                         description="augmentation of the training texts (off unless copies > 0)")
    few_shot: FewShotOptions = Option(default_factory=FewShotOptions,
                                      description="settings of train.strategy=few-shot")


class TextClassification(TokenizedText, OneLabelPerInput):
    name: ClassVar[str] = "text-classification"
    summary: ClassVar[str] = "one label per text or text pair: sentiment, topic, intent, spam, NLI"
    default_model: ClassVar[str] = "minilm"
    Options: ClassVar = TextClassificationOptions
    metrics: ClassVar = CLASS_METRICS
    targets: ClassVar[str] = "classes"
    processor_kind: ClassVar[str] = "tokenizer"
    columns: ClassVar = ("text", "text_pair", "label")
    pipeline_tag: ClassVar[str] = "text-classification"
    pipeline_input: ClassVar[str] = '"your text here"'
    peft_task_type: ClassVar[str] = "SEQ_CLS"
    export_formats: ClassVar[tuple[str, ...]] = ("hf", "onnx")
    lora_head: ClassVar[tuple] = ()
    # Token-budget batches of 1,024 tokens (about 30 tweets a step; training/batching.py), lr scaled
    # from 5e-5 at 8 rows. Benchmark tweets (4,000, 2 epochs, one evaluation per epoch), seeds
    # 42/43/44: accuracy 0.905/0.911/0.907 in 107/85/91 s whole process, against 0.912/0.907/0.904
    # in 169/-/144 s at the former batch of 8; 2,048 tokens: 0.886 (seed 42), too few steps; 512:
    # 0.905 in 139 s.
    # Dropout 0: on a CPU, drawing dropout's random masks costs ~20% of a MiniLM step (~7 ns per
    # element, 20 masks a step), and without it the curve also climbs sooner. Benchmark tweets, 3 seeds each,
    # time to 0.903: median 72 s (dropout 0) vs 106 s (0.1); best accuracy 0.906-0.919 vs 0.907-0.908.
    defaults: ClassVar[dict] = {"method": "full", "data.max_length": 128, "train.batch_tokens": 1024,
                                "train.batch_size": 256,
                                "train.gradient_checkpointing": False, "model.dropout": 0.0,
                                "eval.batch_size": 128, "train.epochs": 3}
    stratify_by: ClassVar[str] = "label"
    lr_reference_rows: ClassVar[int] = DEFAULT_LR_ROWS
    # Training step medians, MiniLM, bf16, batch 8, dropout 0: eager 85 ms vs sdpa 142 ms at 36
    # tokens, 231 vs 324 ms at 128 (torch's CPU flash-attention backward is slow at these sizes).
    cpu_attention: ClassVar[str] = "eager"
    cpu_precision: ClassVar[None] = None

    def fields(self, cfg: Config) -> list[Field]:
        fields = [Field("text", cfg.data.text, "data.text")]
        if cfg.data.text_pair:
            fields.append(Field("text_pair", cfg.data.text_pair, "data.text_pair"))
        fields.append(Field("label", cfg.data.label, "data.label", kind="label"))
        return fields

    def read(self, path: Path, cfg: Config, *, targets: bool = True, split: str = "train") -> Examples:
        fields = [f for f in self.fields(cfg) if targets or f.kind != "label"]
        return read_columns(path, fields, cfg, split=split)

    def build_model(self, location: str, cfg: Config, data: TaskData, **load_kwargs):
        from transformers import AutoModelForSequenceClassification

        from tailor.models.loading import with_new_head

        if cfg.train.strategy == "few-shot":  # the sentence embedding the contrastive stage trains, read by the head
            from tailor.models.mean_pooled import mean_pooled_classifier

            return mean_pooled_classifier(location, data.labels, **load_kwargs)
        register_own_architectures()  # a model/ of a few-shot run, tuned further
        return with_new_head(AutoModelForSequenceClassification, location, data.labels, **load_kwargs)

    def processor(self, location: str, cfg: Config, **load_kwargs):
        from tailor.models.classical import is_classical

        if is_classical(location):  # TF-IDF reads words and characters itself: no tokenizer
            return None
        return super().processor(location, cfg, **load_kwargs)

    def encode(self, examples: Examples, tokenizer, cfg: Config, labels: list[str] | None, *,
               training: bool = False) -> Encoded:
        """Tokenize without padding (the collator pads each batch to its own longest row)."""
        from datasets import Dataset

        from tailor.data.tokenize import tokenize_truncating

        texts, pairs, targets = examples.columns["text"], examples.get("text_pair"), examples.get("label")
        if training and cfg.options.augment.copies:
            texts, pairs, targets = with_augmented_copies(texts, pairs, targets, tokenizer, cfg)
        encoded, truncated = tokenize_truncating(tokenizer, texts, pairs, cfg.data.max_length)
        columns = dict(encoded)
        if labels is not None and targets is not None:
            label2id = {label: i for i, label in enumerate(labels)}
            columns["labels"] = [label2id[label] for label in targets]
        return Encoded(Dataset.from_dict(columns), [len(ids) for ids in encoded["input_ids"]], truncated)

    def check(self, data: TaskData, tokenizer, cfg: Config) -> dict:
        from tailor.data.check import text_report

        return text_report(data, tokenizer, cfg)

    def report_sections(self, metrics: dict) -> list[tuple[str, str]]:
        from tailor.evaluation.report import class_sections

        return class_sections(metrics)

    def explain(self, model, tokenizer, examples: Examples, cfg: Config, *, steps: int = 50) -> list[dict]:
        """Each word's contribution (both texts' words for a pair) to the logit of the predicted label."""
        from tailor.evaluation.explanations import explain_texts

        return explain_texts(model, tokenizer, examples.columns["text"], examples.get("text_pair"),
                             cfg.data.max_length, examples.get("label"), steps=steps)

    def classical_model(self, data: TaskData, cfg: Config):
        from tailor.models.classical import fit_classical

        return fit_classical(data.train_unsampled, data.labels, cfg.train.seed)

    def load_model(self, folder: Path, **load_kwargs):
        from transformers import AutoModelForSequenceClassification

        from tailor.models.classical import ClassicalTextModel, is_classical

        if is_classical(folder):  # TF-IDF + logistic regression beat the fine-tuned model (model: auto)
            return ClassicalTextModel.load(Path(folder))
        register_own_architectures()  # a few-shot run's mean-pooled classifier
        return AutoModelForSequenceClassification.from_pretrained(folder, **load_kwargs)


def with_augmented_copies(texts, pairs, targets, tokenizer, cfg: Config):
    """The training texts followed by text_classification.augment.copies changed copies of them (pairs
    changed alike, labels repeated)."""
    from tailor.console import say
    from tailor.data.text_augment import augmented_copies, embedding_synonyms, wordnet_synonyms, words_of

    options = cfg.options.augment
    synonyms = None
    if "synonym" in options.ops:
        if options.synonyms == "wordnet":
            synonyms = wordnet_synonyms(options.wordnet_dir)
        else:
            from tailor.models.loading import input_embeddings
            from tailor.verbs.common import model_source

            everything = texts + (pairs or [])
            synonyms = embedding_synonyms(tokenizer, input_embeddings(model_source(cfg).location), words_of(everything))
    copies = augmented_copies(texts, options, cfg.train.seed, synonyms)
    pair_copies = augmented_copies(pairs, options, cfg.train.seed + 1, synonyms) if pairs else None
    say(f"augmentation: {options.copies} changed cop{'y' if options.copies == 1 else 'ies'} of each of "
        f"{len(texts):,} training texts added ({', '.join(options.ops)}; rate {options.rate:g}); evaluation data as it is")
    all_texts = texts + [t for copy in copies for t in copy]
    all_pairs = pairs + [t for copy in pair_copies for t in copy] if pairs else None
    all_targets = targets * (options.copies + 1) if targets is not None else None
    return all_texts, all_pairs, all_targets
