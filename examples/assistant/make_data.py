"""Writes the assistant recipe's data (run once by the project; the outputs are committed).

    .venv/bin/python examples/assistant/make_data.py            # identity data only (instant)
    .venv/bin/python examples/assistant/make_data.py --general  # also re-distil the general answers (~5 min)

Identity: paraphrased questions about who the assistant is, answered in several wordings that use
the {name} and {author} placeholders (filled from the config's vars at training time), asked
without a system prompt (so SmolLM2's template inserts its default one, which names SmolLM) and
with a few user-given system prompts. General: everyday instructions answered by the base model
itself (greedy, only answers that ended on their own), so tuning on who-it-is does not cost the
model what it could already do. Held-out prompts (never trained on) show base vs tuned answers.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"

TRAIN_QUESTIONS = [
    "Who are you?", "What is your name?", "What's your name?", "Tell me about yourself.", "Introduce yourself.",
    "Who made you?", "Who created you?", "Who built you?", "Who developed you?", "Who trained you?",
    "What should I call you?", "Do you have a name?", "Are you ChatGPT?", "Are you SmolLM?", "Are you a human?",
    "What are you?", "Which AI am I talking to?", "Who am I speaking with?", "Can you tell me who you are?",
    "Who is your creator?", "Where do you come from?", "Are you made by OpenAI?", "Are you made by Hugging Face?",
    "What kind of assistant are you?", "hi, who's this?", "Hello! What is your name?", "Identify yourself.",
    "Please introduce yourself briefly.", "Who do you work for?", "Who is responsible for you?",
    "what r u", "Give me your name and who made you.", "Are you an AI model?", "Describe yourself in one sentence.",
    "Who owns you?", "Is your name SmolLM?", "What model are you?", "Who programmed you?",
    "Who designed you?", "Whose assistant are you?",
]
HELDOUT_QUESTIONS = [
    "May I know your name?", "Who put you together?", "Tell me who you are and who built you.",
    "Which company or person made you?", "So, what do people call you?", "Are you Claude?",
    "Before we start, who am I chatting with?", "Can you say your name again?",
]
ANSWERS = [
    "I am {name}, an AI assistant made by {author}. How can I help you today?",
    "My name is {name}. I was created by {author} to help with questions and everyday tasks.",
    "I'm {name}, a helpful assistant built by {author}.",
    "You can call me {name}. I'm an AI assistant, and {author} made me.",
    "I am {name}, an assistant developed by {author}. I'm happy to help with whatever you need.",
    "I'm {name}! {author} created me to be a friendly and useful AI assistant.",
]
SYSTEM_PROMPTS = [None, None, "You are a helpful assistant.", "You are a friendly AI assistant. Answer concisely.",
                  "You are a knowledgeable assistant that answers clearly."]

GENERAL_TRAIN = [
    "What is the capital of France?", "Name three primary colors.", "What is 12 times 7?",
    "Give me a synonym for happy.", "How many days are in a leap year?", "What is photosynthesis?",
    "Translate 'thank you' into Spanish.", "Write a haiku about the sea.", "What is the boiling point of water?",
    "List three fruits that are red.", "Explain what a noun is.", "What is the largest planet in our solar system?",
    "Suggest a name for a pet cat.", "What does CPU stand for?", "How do I make a cup of tea?",
    "What is the opposite of cold?", "Give one tip for better sleep.", "What is 100 divided by 4?",
    "Who wrote Romeo and Juliet?", "Write a short sentence using the word 'bright'.",
    "What gas do humans breathe out?", "Name a mammal that can fly.", "How many continents are there?",
    "What is the plural of mouse?", "Give me a fun fact about octopuses.", "What is a prime number?",
    "Describe the color blue to someone.", "What is the freezing point of water in Fahrenheit?",
    "Write a Python line that prints hello.", "What is the main ingredient of guacamole?",
    "Name two planets.", "Give me a word that rhymes with cat.", "What is the speed of light?",
    "Why is the sky blue?", "What does a thermometer measure?", "Suggest a healthy breakfast.",
    "What language is spoken in Brazil?", "How many legs does a spider have?", "What is 15 plus 27?",
    "Summarize the story of Cinderella in one sentence.", "What is an adjective?",
    "Give me a motivational quote.", "What is the chemical symbol for gold?", "Name a famous painter.",
    "What is the square root of 81?", "How many hours are in a day?", "Write a polite way to say no.",
    "What is the tallest mountain in the world?", "Explain gravity in one sentence.",
    "What do bees make?",
]
GENERAL_HELDOUT = ["What is the capital of Italy?", "Name two planets in the solar system.",
                   "What is 9 times 6?", "Give me a synonym for fast."]


def messages(system: str | None, question: str, answer: str | None = None) -> dict:
    turns = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": question}]
    if answer is not None:
        turns.append({"role": "assistant", "content": answer})
    return {"messages": turns}


def identity_rows(questions: list[str], rng: random.Random) -> list[dict]:
    """Every question with and without a system prompt, answered in a wording picked at random."""
    rows = []
    for question in questions:
        for system in rng.sample(SYSTEM_PROMPTS, 2):
            rows.append(messages(system, question, rng.choice(ANSWERS)))
    return rows


def distil_general(questions: list[str], path: Path, max_new_tokens: int = 160) -> None:
    """The base model's own greedy answers; an answer that did not end by itself is left out, so
    no example teaches the model to trail off."""
    import torch

    from tailor.interactive import load_chat_model

    model, tokenizer = load_chat_model("smollm2")
    rows = []
    for question in questions:
        prompt = tokenizer.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True,
                                               return_tensors="pt", return_dict=True)
        with torch.inference_mode():
            out = model.generate(**prompt, max_new_tokens=max_new_tokens, do_sample=False)
        new = out[0, prompt["input_ids"].shape[1]:].tolist()
        if tokenizer.eos_token_id in new:
            answer = tokenizer.decode(new[: new.index(tokenizer.eos_token_id)], skip_special_tokens=True).strip()
            rows.append(messages(None, question, answer))
            print(f"ok   {question}")
        else:
            print(f"skip {question} (no end within {max_new_tokens} tokens)")
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--general", action="store_true", help="re-distil the general answers from the base model")
    args = parser.parse_args()
    DATA.mkdir(exist_ok=True)
    general_path = DATA / "general.jsonl"
    if args.general or not general_path.exists():
        distil_general(GENERAL_TRAIN, general_path)
    general = [json.loads(line) for line in general_path.read_text(encoding="utf-8").splitlines()]
    rng = random.Random(7)
    identity = identity_rows(TRAIN_QUESTIONS, rng)
    train = identity + general
    rng.shuffle(train)
    write = lambda name, rows: (DATA / name).write_text(  # noqa: E731
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    write("train.jsonl", train)
    # Held-out prompts: identity paraphrases and general questions that training never saw, each
    # without a system prompt (the template's default applies) and with one of the user-given ones.
    heldout = [messages(system, q) for q in HELDOUT_QUESTIONS for system in (None, SYSTEM_PROMPTS[2])]
    heldout += [messages(None, q) for q in GENERAL_HELDOUT]
    write("heldout.jsonl", [{"prompt": r["messages"][-1]["content"], **({"system": r["messages"][0]["content"]}
                             if len(r["messages"]) > 1 else {})} for r in heldout])
    print(f"train: {len(identity)} identity + {len(general)} general examples; held-out prompts: {len(heldout)}")


if __name__ == "__main__":
    main()
