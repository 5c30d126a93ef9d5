"""Text to text: translation, summarization, rewriting in a house style, normalisation.

Two kinds of model write the output (models/text_to_text.py):
- a chat LM (the default, the embedded SmolLM2, with LoRA): each pair is a one-turn conversation, the
  input (after seq2seq.instruction) as the user's turn and the output as the assistant's, so the chat
  task's rendering, loss masking, packing, loss and generation are used as they are;
- an encoder-decoder (T5, BART, Marian, mT5 from a folder or the hub): the input to the encoder (after
  the instruction, as T5's prefixes), the output as the decoder's labels.
Scores are on generated outputs (evaluation/generated.py): exact match, chrF, BLEU and ROUGE-L, for the
tuned model, the model before tuning and copying the input unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field as Option

from tailor.config import Config, TaskOptions
from tailor.data.examples import Examples
from tailor.data.loading import TaskData
from tailor.tasks.base import Encoded, Metric, TokenizedText


class Seq2SeqOptions(TaskOptions):
    instruction: str | None = Option(
        None, description="what the model is told before each input, e.g. 'Translate into German:'; a chat model "
                          "gets it and the input as its user's message, an encoder-decoder as a prefix of the "
                          "input (T5 style)")
    max_new_tokens: int = Option(128, gt=0, description="longest output generated, in tokens")
    num_beams: int = Option(1, ge=1, description="beam search width for outputs (1: greedy)")
    length_penalty: float = Option(1.0, description="with beams: > 1 favours longer outputs, < 1 shorter ones")
    samples: int = Option(6, ge=0, description="how many evaluation rows the report shows (input, reference, the "
                                               "model before and after tuning)")
    packing: bool = Option(True, description="a chat model: pack short examples into rows of data.max_length "
                                             "tokens (no attention across examples)")
    overlong: Literal["truncate", "drop"] = Option("truncate", description="an example longer than data.max_length "
                                                                         "tokens: cut it, or leave it out (counted)")
    bert2bert: bool = Option(False, description="with an encoder as model: (BERT, MiniLM), an encoder-decoder whose "
                                                "halves both start from it (Rothe et al. 2020); its cross-attention "
                                                "is new, so method: full. MiniLM is uncased: it cannot write capitals")


class Seq2Seq(TokenizedText):  # its tokenizer; collator: its own, for either kind of model
    name: ClassVar[str] = "seq2seq"
    summary: ClassVar[str] = ("text to text: translation, summarization, rewriting (a chat LM with LoRA by "
                              "default, or any encoder-decoder)")
    default_model: ClassVar[str] = "smollm2"
    Options: ClassVar = Seq2SeqOptions
    metrics: ClassVar = (Metric("exact_match"), Metric("chrf"), Metric("bleu"), Metric("rouge_l"))
    targets: ClassVar[str] = "texts for texts"
    processor_kind: ClassVar[str] = "tokenizer"
    columns: ClassVar = ("source", "target", "source_lang", "target_lang")
    pipeline_tag: ClassVar[str] = "text2text-generation"
    pipeline_input: ClassVar[str] = ""
    peft_task_type: ClassVar[str] = "CAUSAL_LM"  # SEQ_2_SEQ_LM for an encoder-decoder (models/methods.py)
    export_formats: ClassVar[tuple[str, ...]] = ("hf",)
    lora_head: ClassVar[tuple] = ()
    # The chat task's recipe (LoRA on every linear layer, packed rows, activations recomputed) at a
    # higher rate and in smaller steps: on examples/seq2seq's 1,500 dates (SmolLM2, 2 epochs), the
    # chat defaults (2e-4, 2,048 tokens a step) left an eval loss of 0.070 and exact match 0.74
    # (12.8 min); 1e-3 at 1,024 tokens a step 0.0005 and 1.00 on eval and test (14.1 min), 0.0039
    # after its first epoch.
    defaults: ClassVar[dict] = {"method": "lora", "data.max_length": 256, "train.batch_tokens": 1024,
                                "train.batch_size": 64, "train.gradient_checkpointing": True,
                                "lora.targets": "all-linear", "eval.batch_size": 16, "train.epochs": 3,
                                "train.lr": 1e-3}
    stratify_by: ClassVar[None] = None
    lr_reference_rows: ClassVar[None] = None
    cpu_attention: ClassVar[None] = None
    cpu_precision: ClassVar[None] = None

    def read(self, path: Path, cfg: Config, *, targets: bool = True, split: str = "train") -> Examples:
        from tailor.data.text_pairs import read_text_pairs

        return read_text_pairs(path, cfg, targets=targets, split=split)

    def build_model(self, location: str, cfg: Config, data: TaskData, **load_kwargs):
        from tailor.models.text_to_text import ENCODER, architecture, load_text_writer, writer_kind

        writer_kind(location, cfg.options.bert2bert)  # an encoder without seq2seq.bert2bert stops here
        if architecture(location) == ENCODER and cfg.method != "full":
            from tailor.errors import ConfigError

            raise ConfigError(f"seq2seq.bert2bert: the decoder's cross-attention starts from scratch and must train in "
                              f"full; set method: full (not {cfg.method})")
        return load_text_writer(location, **load_kwargs)

    def encode(self, examples: Examples, tokenizer, cfg: Config, labels: list[str] | None, *,
               training: bool = False) -> Encoded:
        from tailor.models.text_to_text import DECODER, writer_kind

        options = cfg.options
        if writer_kind(tokenizer.name_or_path, options.bert2bert) == DECODER:
            from tailor.tasks.chat import encode_conversations, require_chat_template

            require_chat_template(tokenizer, otherwise="an encoder-decoder (T5, BART, Marian, mT5)")
            conversations = conversations_of(examples, options.instruction)
            return encode_conversations(conversations, tokenizer, cfg.data.max_length, examples.path,
                                        train_on="assistant", overlong=options.overlong, packing=options.packing,
                                        section="seq2seq")
        from tailor.data.tokenize import encode_pairs

        return encode_pairs(tokenizer, _inputs(examples, options.instruction, prefix=True), examples.columns["target"],
                            cfg.data.max_length, options.overlong, examples.path)

    def collator(self, tokenizer, cfg: Config):
        from tailor.models.text_to_text import DECODER, writer_kind

        if writer_kind(tokenizer.name_or_path, cfg.options.bert2bert) == DECODER:
            from tailor.training.packing import PackedCollator

            return PackedCollator.for_tokenizer(tokenizer)
        from transformers import DataCollatorForSeq2Seq

        from tailor.data.examples import IGNORE

        return DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=IGNORE)

    def loss(self, cfg: Config, data: TaskData):
        """The chat task's lean loss for a chat LM; the decoder's cross-entropy for an encoder-decoder."""
        from tailor.models.text_to_text import is_encoder_decoder
        from tailor.training.lm_loss import lean_causal_lm_loss, causal_lm
        from tailor.training.losses import sequence_loss

        def loss(model, inputs, num_items_in_batch):
            if is_encoder_decoder(causal_lm(model)):
                return sequence_loss(model, inputs, num_items_in_batch), None
            return lean_causal_lm_loss(model, inputs, num_items_in_batch), None

        return loss

    def training_metrics(self, cfg: Config, labels: list[str]):
        return None  # the eval loss picks the best checkpoint: generating at every evaluation costs minutes

    def evaluate(self, model, tokenizer, examples: Examples, cfg: Config, batch_size: int) -> dict:
        """The outputs generated for every input, scored against the references a batch at a time."""
        from tqdm.auto import tqdm

        from tailor.distributed import is_main_process
        from tailor.evaluation.generated import GeneratedScores

        scores = GeneratedScores()
        references = examples.columns["target"]
        starts = range(0, len(examples), batch_size)
        for start in tqdm(starts, desc="generating", unit="batch", leave=False,
                          disable=len(starts) < 2 or not is_main_process()):
            part = examples.subset(range(start, min(start + batch_size, len(examples))))
            scores.add(_write(model, tokenizer, part, cfg, batch_size), references[start:start + batch_size])
        return scores.result()

    def predict(self, model, tokenizer, examples: Examples, cfg: Config, batch_size: int) -> list[dict]:
        outputs = _write(model, tokenizer, examples, cfg, batch_size)
        if "text" in examples.columns:  # from the command line: the caller shows each input beside its output
            return [{"output": output} for output in outputs]
        references = examples.columns.get("target") or [None] * len(outputs)
        return [{"source": source, **({"reference": reference} if reference is not None else {}), "output": output}
                for source, reference, output in zip(examples.columns["source"], references, outputs)]

    def baselines(self, model, tokenizer, data: TaskData, cfg: Config, base_location: str) -> dict:
        """The model before tuning, and the input copied unchanged (what a rewriting task must beat)."""
        from tailor.evaluation.generated import score_texts
        from tailor.tasks.chat import base_model

        with base_model(model, base_location) as base:
            before = self.evaluate(base, tokenizer, data.eval, cfg, cfg.eval.batch_size)
        copied = score_texts(data.eval.columns["source"], data.eval.columns["target"])
        return {"baseline": {"method": "base model (before tuning)", **before},
                "copy_baseline": {"method": "the input copied unchanged", **copied}}

    def samples(self, model, tokenizer, data: TaskData, cfg: Config, base_location: str) -> list[dict]:
        """A few evaluation rows: input, reference, and both models' outputs."""
        rows = data.eval.subset(range(min(cfg.options.samples, len(data.eval))))
        from tailor.tasks.chat import base_model

        tuned = _write(model, tokenizer, rows, cfg, cfg.eval.batch_size)
        with base_model(model, base_location) as base:
            before = _write(base, tokenizer, rows, cfg, cfg.eval.batch_size)
        return [{"prompt": source, "reference": reference, "base": b, "tuned": t} for source, reference, b, t in
                zip(rows.columns["source"], rows.columns["target"], before, tuned)]

    def check(self, data: TaskData, tokenizer, cfg: Config) -> dict:
        from tailor.data.check import text_pairs_report
        from tailor.models.text_to_text import DECODER, writer_kind

        def rendered_lengths(examples: Examples) -> list[int]:  # as training renders them
            from tailor.data.chat_tokens import encode_conversation

            return [len(encode_conversation(tokenizer, turns).input_ids)
                    for turns in conversations_of(examples, cfg.options.instruction)]

        decoder = writer_kind(tokenizer.name_or_path, cfg.options.bert2bert) == DECODER
        return text_pairs_report(data, tokenizer, cfg, rendered_lengths if decoder else None)

    def report_sections(self, metrics: dict) -> list[tuple[str, str]]:
        from tailor.evaluation.report import samples_table

        return [("Outputs for evaluation inputs", samples_table(metrics.get("samples")))]

    def finish_saved_model(self, folder: Path, model, tokenizer, rebuild) -> None:
        """The generation config (stop tokens, the decoder's start token) goes with the weights."""
        from tailor.training.lm_loss import causal_lm

        causal_lm(model).generation_config.save_pretrained(folder)

    def load_model(self, folder: Path, **load_kwargs):
        from tailor.models.text_to_text import load_text_writer

        return load_text_writer(folder, **load_kwargs)

    def usage(self) -> str:
        return ('# a chat LM (the default) answers the input, after seq2seq.instruction, as its user\'s message:\n'
                '# `tailor predict RUN --text "..."`, or `tailor export RUN --merge --out DIR` and then\n'
                'from transformers import pipeline\nrun = pipeline("text-generation", model="DIR")\n'
                'print(run([{"role": "user", "content": "your input"}], max_new_tokens=128))\n'
                '# an encoder-decoder: AutoModelForSeq2SeqLM.from_pretrained("DIR").generate(...)')


def _inputs(examples: Examples, instruction: str | None, *, prefix: bool) -> list[str]:
    """Each input as the model reads it: after the instruction (a prefix on the same line for an
    encoder-decoder, a paragraph of its own in a chat message)."""
    sources = examples.columns.get("source") or examples.columns["text"]
    if not instruction:
        return list(sources)
    joint = " " if prefix else "\n\n"
    return [f"{instruction}{joint}{source}" for source in sources]


def conversations_of(examples: Examples, instruction: str | None):
    from tailor.data.conversations import Turn

    return [[Turn("user", prompt, False), Turn("assistant", target, True)]
            for prompt, target in zip(_inputs(examples, instruction, prefix=False), examples.columns["target"])]


def _write(model, tokenizer, examples: Examples, cfg: Config, batch_size: int) -> list[str]:
    """The model's output for every input, as seq2seq.* sets generation."""
    from tailor.models.text_to_text import Writing, is_encoder_decoder, write_with_generate
    from tailor.models.generation import stop_token_ids
    from tailor.training.lm_loss import causal_lm

    options = cfg.options
    writing = Writing(options.max_new_tokens, options.num_beams, options.length_penalty)
    stops = stop_token_ids(causal_lm(model), tokenizer)
    if is_encoder_decoder(causal_lm(model)):
        inputs = tokenizer(_inputs(examples, options.instruction, prefix=True), truncation=True,
                           max_length=cfg.data.max_length)["input_ids"]
        return write_with_generate(model, tokenizer, inputs, writing, stop_ids=stops, batch_size=batch_size)
    messages = [[{"role": "user", "content": prompt}] for prompt in _inputs(examples, options.instruction, prefix=False)]
    if options.num_beams == 1:  # the chat task's decoding loop: rows leave the batch as they finish
        from tailor.models.decoding import Sampling
        from tailor.models.generation import answer_all

        replies = answer_all(model, tokenizer, messages, Sampling(max_new_tokens=options.max_new_tokens),
                             max_rows=batch_size)
        return [reply.text.strip() for reply in replies]
    from tailor.data.chat_tokens import render_prompt

    prompts = [render_prompt(tokenizer, conversation) for conversation in messages]
    return write_with_generate(model, tokenizer, prompts, writing, stop_ids=stops, batch_size=batch_size)
