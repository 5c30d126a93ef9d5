"""Fine-tuning as the usual tutorials write it: pad every text to a fixed length, Trainer defaults.

Defaults kept on purpose (they are what a tutorial reader runs): batch 8 for training and
evaluation, learning rate 5e-5, no warm-up, no weight decay, random batches, fp32, and a
checkpoint every 500 steps. Two departures, both in the tutorial's favour or needed to measure:
- max_length=128 is given explicitly; `padding="max_length"` alone pads to the model's 512, 4x slower;
- evaluation every N samples instead of once per epoch, so every contender is timed at the same points.
"""

import common  # first: sets the environment and starts the process clock

from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainingArguments

PAD_TO = 128
BATCH = 8  # TrainingArguments' default per_device_train_batch_size

args = common.parse_args(__doc__)
common.install_probes()
dataset, labels = common.load_splits(args.train, args.eval)
tokenizer = AutoTokenizer.from_pretrained(common.minilm_path())


def tokenize(batch):
    return tokenizer(batch["text"], padding="max_length", truncation=True, max_length=PAD_TO)


dataset = dataset.map(tokenize, batched=True)
model = AutoModelForSequenceClassification.from_pretrained(common.minilm_path(), num_labels=len(labels))

training_args = TrainingArguments(
    output_dir=args.out,
    num_train_epochs=args.epochs,
    **common.eval_schedule(args.eval_every, BATCH),
    seed=args.train_seed,
)
recorder = common.eval_recorder()
trainer = Trainer(model=model, args=training_args, train_dataset=dataset["train"], eval_dataset=dataset["eval"],
                  compute_metrics=common.accuracy, callbacks=[recorder])
trainer.train()
common.report("tutorial", recorder.curve, recorder.train_end_s,
              {"batch_size": BATCH, "lr": training_args.learning_rate, "padding": f"max_length={PAD_TO}",
               "precision": "fp32", "eval_steps": training_args.eval_steps})
