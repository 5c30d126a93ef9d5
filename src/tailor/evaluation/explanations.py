"""Which input tokens or pixels drove a classifier's answer: integrated gradients (Sundararajan et al.
2017) computed by Captum, not by hand.

Integrated gradients walk a straight line from a baseline input (one that says nothing) to the real
input and add up the gradients of one class's logit along the way; the attributions then sum to
logit(input) - logit(baseline) (their "completeness"), up to the error of the numerical integral,
which Captum reports as the convergence delta. What "says nothing" is:

- text: the same tokens with every word piece replaced by the padding token, the special tokens
  ([CLS], [SEP]) kept, so the attributions are about the words alone; the interpolation runs between
  the two sequences' input embeddings (LayerIntegratedGradients on the model's embedding layer).
- images: zero in the model's normalised pixel space, i.e. a flat image of the colour the image
  processor's normalisation subtracts (its mean; mid grey for most processors).

Each explanation is a plain JSON-able dict (the CLI, `tailor explain`'s page and report.html read it).
Torch and Captum are imported inside the functions: the report renders saved explanations without them.
"""

from __future__ import annotations

import base64
import io

import numpy as np

# Interpolation steps pushed through the model together. Captum batches the `steps` of one input in
# passes of this many rows, so memory stays that of a training batch (16 images for image runs)
# whatever `steps` is.
ROWS_PER_PASS = 16
HEATMAP_CELLS = 32  # the saved heat map is at most 32 x 32 cells: a few kB in metrics.json
VIEW_SIDE = 128  # the model's view of an image is kept at most this large, as a JPEG (~10 kB)
TEXT_BASELINE = "the same text with every word piece replaced by the padding token (special tokens kept)"
IMAGE_BASELINE = ("zero in the model's normalised pixel space: a flat image of the colour its image processor "
                  "subtracts (its mean; mid grey for most models)")


def explain_texts(model, tokenizer, texts: list[str], pairs: list[str] | None, max_length: int | None,
                  truth: list[str] | None = None, *, steps: int = 50) -> list[dict]:
    """One explanation per text (or text pair): the predicted label, its probability, the true label
    where `truth` gives one, and each word's contribution to the predicted label's logit."""
    answers = []
    for i, text in enumerate(texts):
        pair = pairs[i] if pairs else None
        encoded = tokenizer(text, pair, truncation=max_length is not None, max_length=max_length,
                            return_offsets_mapping=True, return_special_tokens_mask=True, return_tensors="pt")
        target, probabilities = _predicted(model, _model_inputs(encoded, model))
        scores, delta = token_attributions(model, tokenizer, encoded, target, steps=steps)
        answer = {"text": text, **({"text_pair": pair} if pairs else {}),
                  **_answered(model, target, probabilities, truth[i] if truth else None),
                  "attributions": _words(encoded, scores, 0, text)}
        if pairs:
            answer["pair_attributions"] = _words(encoded, scores, 1, pair)
        answers.append({**answer, "delta": _rounded(delta), "steps": steps})
    return answers


def token_attributions(model, tokenizer, encoded, target: int, *, steps: int = 50):
    """(each token's attribution to the logit of class `target`, Captum's convergence delta) for one
    tokenized input (batch of 1, as the tokenizer returned it with return_tensors="pt")."""
    from captum.attr import LayerIntegratedGradients

    inputs = _model_inputs(encoded, model)
    input_ids = inputs.pop("input_ids")
    names = list(inputs)

    def logits(ids, *extra):
        return model(input_ids=ids, **dict(zip(names, extra))).logits

    model.eval()
    explainer = LayerIntegratedGradients(logits, model.get_input_embeddings())
    attributions, delta = explainer.attribute(
        input_ids, baselines=text_baseline(encoded, tokenizer).to(input_ids.device),
        additional_forward_args=tuple(inputs.values()), target=target, n_steps=steps,
        internal_batch_size=ROWS_PER_PASS, return_convergence_delta=True)
    return attributions.sum(-1)[0].detach().float().cpu().numpy(), float(delta.item())


def text_baseline(encoded, tokenizer):
    """The input ids with every non-special token replaced by the padding token."""
    import torch

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.unk_token_id
    special = encoded["special_tokens_mask"].bool()
    return torch.where(special, encoded["input_ids"], torch.full_like(encoded["input_ids"], pad))


def explain_images(model, processor, images: list, truth: list[str] | None = None, *, steps: int = 50) -> list[dict]:
    """One explanation per image (tailor's ImageRef: `load()`, `name()`): the predicted label, its
    probability, the true label where `truth` gives one, a heat map of each region's contribution to
    the predicted label's logit, and the model's view of the image (resized and cropped as it sees it)."""
    from tailor.data.image_transforms import eval_pixels

    answers = []
    for i, image in enumerate(images):
        picture = image.load()
        pixels = eval_pixels(processor, [picture]).to(_device(model))
        target, probabilities = _predicted(model, {"pixel_values": pixels})
        heat, delta = pixel_attributions(model, pixels, target, steps=steps)
        answers.append({"image": image.name(), **_answered(model, target, probabilities, truth[i] if truth else None),
                        "heatmap": [[_rounded(value) for value in row] for row in _cells(heat)],
                        "view_jpeg": _view_jpeg(processor, picture), "delta": _rounded(delta), "steps": steps})
    return answers


def pixel_attributions(model, pixels, target: int, *, steps: int = 50):
    """(each pixel's attribution to the logit of class `target`, summed over the colour channels: an
    H x W array; Captum's convergence delta) for one image's (1, 3, H, W) normalised pixels."""
    import torch
    from captum.attr import IntegratedGradients

    model.eval()
    explainer = IntegratedGradients(lambda x: model(pixel_values=x).logits)
    attributions, delta = explainer.attribute(pixels, baselines=torch.zeros_like(pixels), target=target,
                                              n_steps=steps, internal_batch_size=ROWS_PER_PASS,
                                              return_convergence_delta=True)
    return attributions[0].sum(0).detach().float().cpu().numpy(), float(delta.item())


def pick_examples(truth: np.ndarray, probabilities: np.ndarray, count: int) -> list[int]:
    """Rows worth explaining in the report: half of them wrong answers (the most confident first),
    the others right ones (the most confident first); more of one kind where the other runs out."""
    predicted = probabilities.argmax(-1)
    confidence = probabilities.max(-1)
    wrong, right = ([int(r) for r in rows[np.argsort(-confidence[rows], kind="stable")]]
                    for rows in (np.flatnonzero(predicted != truth), np.flatnonzero(predicted == truth)))
    wrong_shown = min(len(wrong), max(count // 2, count - len(right)))
    return wrong[:wrong_shown] + right[:count - wrong_shown]


def brief(explanation: dict, top: int = 5) -> dict:
    """One line's worth of an explanation: the input, the answer, and the words that weighed most."""
    shown = {k: explanation[k] for k in ("text", "text_pair", "image", "label", "score", "true") if k in explanation}
    words = explanation.get("attributions", []) + explanation.get("pair_attributions", [])
    if words:
        shown["top_words"] = sorted(words, key=lambda word: -abs(word[1]))[:top]
    return shown


def _model_inputs(encoded, model) -> dict:
    """What the model's forward takes, on its device (the tokenizer also returned offsets)."""
    return {k: v.to(_device(model)) for k, v in encoded.items() if k not in ("offset_mapping", "special_tokens_mask")}


def _device(model):
    return next(model.parameters()).device


def _predicted(model, inputs: dict):
    """(the most probable class id, every class's probability) of one input."""
    import torch

    model.eval()
    with torch.no_grad():
        probabilities = torch.softmax(model(**inputs).logits[0].float(), -1)
    return int(probabilities.argmax()), probabilities.cpu().numpy()


def _answered(model, target: int, probabilities: np.ndarray, truth: str | None) -> dict:
    from tailor.evaluation.classification import model_labels

    answer = {"label": model_labels(model)[target], "score": _rounded(probabilities[target])}
    return {**answer, "true": truth} if truth is not None else answer


def _words(encoded, scores: np.ndarray, sequence: int, source: str) -> list[list]:
    """[word, score] for each word of one of the input's texts (0: the text, 1: its pair), in order:
    its word pieces' scores summed, the word spelled as in `source`. Special tokens are left out (they
    are the same in the baseline, so their attribution is 0)."""
    spans: dict[int, list] = {}
    offsets = encoded["offset_mapping"][0].tolist()
    for token, (in_sequence, word) in enumerate(zip(encoded.sequence_ids(0), encoded.word_ids(0))):
        if in_sequence != sequence or word is None:
            continue
        start, end = offsets[token]
        span = spans.setdefault(word, [start, end, 0.0])
        span[1], span[2] = end, span[2] + float(scores[token])
    return [[source[start:end], _rounded(score)] for start, end, score in spans.values()]


def _cells(heat: np.ndarray) -> np.ndarray:
    """The heat map summed into at most HEATMAP_CELLS x HEATMAP_CELLS cells (so the cells still add up
    to the whole attribution, whatever the image size)."""
    for axis in (0, 1):
        size = heat.shape[axis]
        cells = min(size, HEATMAP_CELLS)
        heat = np.add.reduceat(heat, (np.arange(cells) * size) // cells, axis=axis)
    return heat


def _view_jpeg(processor, picture) -> str:
    """The image as the model sees it (resized and cropped by its own processor, before its pixel
    values are rescaled and normalised), as base64 JPEG."""
    from PIL import Image

    view = processor(images=[picture], do_rescale=False, do_normalize=False, return_tensors="np")["pixel_values"][0]
    image = Image.fromarray(np.clip(view, 0, 255).astype(np.uint8).transpose(1, 2, 0))
    image.thumbnail((VIEW_SIDE, VIEW_SIDE))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _rounded(value) -> float:
    """6 significant digits: short in JSON, and still exact enough to add up for a model whose logits
    move by thousandths (an untrained one)."""
    return float(f"{float(value):.6g}")
