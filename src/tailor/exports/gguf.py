"""GGUF files for llama.cpp, Ollama and LM Studio, written with the `gguf` package (no llama.cpp
checkout or build), plus the Ollama Modelfile that goes with them.

What llama.cpp needs beside the weights, and where each comes from:
- hyper-parameters (`llama.*`) from the model's config;
- the vocabulary: every token with its type (normal, control, user-defined), the BPE merges, the
  special token ids and the chat template (gguf.SpecialVocab reads the tokenizer files);
- the end-of-turn token as EOS (and EOT), so that llama.cpp stops where the tuned model stops: the
  failure users of other tools report most is an export that rambles because this was lost;
- the pre-tokenizer's name, which llama.cpp cannot infer: it identifies it by the hash of one text's
  token ids, as llama.cpp's own converter does (convert_hf_to_gguf.py, MIT); tailor knows the
  tokenizers it has checked and refuses others rather than write a file that tokenizes differently.

llama.cpp's LLaMA layout interleaves the rotary halves of the q and k projections differently from
transformers: their rows are permuted on the way out (transformers' GGUF loader undoes it, so the
round trip in verification catches a missing or wrong permutation).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

QUANTIZE = ("f16", "q8_0", "q4_0")
# The text llama.cpp tokenizes to tell pre-tokenizers apart, and the names of those tailor has
# checked against llama.cpp (hash of str(token ids) -> tokenizer.ggml.pre).
_PRE_TOKENIZER_TEXT = (
    "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u200d🌫️ (multiple emojis concatenated) ✅ 🦙🦙 3 33 "
    "333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ ------======= "
    "нещо на Български ''''''```````\"\"\"\"......!!!!!!?????? I've been 'told he's there, 'RE you sure? 'M not sure "
    "I'll make it, 'D you like some tea? We'Ve a'lL")
KNOWN_PRE_TOKENIZERS = {
    "855059429035d75a914d1eda9f10a876752e281a054a7a3d421ef0533e5b6249": "smollm",  # SmolLM, SmolLM2
}


def quant_type(quantize: str):
    from gguf import GGMLQuantizationType, LlamaFileType

    return {"f16": (GGMLQuantizationType.F16, LlamaFileType.MOSTLY_F16),
            "q8_0": (GGMLQuantizationType.Q8_0, LlamaFileType.MOSTLY_Q8_0),
            "q4_0": (GGMLQuantizationType.Q4_0, LlamaFileType.MOSTLY_Q4_0)}[quantize]


def check_exportable(model, tokenizer) -> None:
    """Refuse, before anything is written, what this writer would get wrong."""
    from tailor.errors import ExportError

    config = model.config
    if config.model_type != "llama":
        raise ExportError(f"--format gguf writes Llama-architecture models (SmolLM2, TinyLlama, Llama 2/3); this "
                          f"run's model is {config.model_type!r}: export it with --format hf --merge and convert "
                          "it with llama.cpp's convert_hf_to_gguf.py")
    rope = getattr(config, "rope_parameters", None) or {}
    if rope.get("rope_type", "default") != "default":
        raise ExportError(f"--format gguf: this model's rotary embedding is scaled ({rope.get('rope_type')}), which "
                          "tailor's GGUF writer does not describe yet; use --format hf --merge")
    pre_tokenizer(tokenizer)


def pre_tokenizer(tokenizer) -> str:
    from tailor.errors import ExportError

    digest = hashlib.sha256(str(tokenizer.encode(_PRE_TOKENIZER_TEXT)).encode()).hexdigest()
    if digest not in KNOWN_PRE_TOKENIZERS:
        raise ExportError("--format gguf: llama.cpp would split text differently from this model's tokenizer "
                          f"(pre-tokenizer hash {digest[:12]}... is not one tailor has checked); use --format hf "
                          "--merge and llama.cpp's convert_hf_to_gguf.py")
    return KNOWN_PRE_TOKENIZERS[digest]


def write_gguf(model, tokenizer, tokenizer_folder: Path, path: Path, quantize: str, end_of_turn: int, name: str) -> None:
    """The merged fp32 `model` as one GGUF file; `tokenizer_folder` holds the saved tokenizer files."""
    import gguf

    tensor_type, file_type = quant_type(quantize)
    config = model.config
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name(name)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_freq_base(_rope_theta(config))
    writer.add_rope_dimension_count(_head_dim(config))
    writer.add_vocab_size(config.vocab_size)
    writer.add_file_type(file_type)
    _add_vocabulary(writer, tokenizer, tokenizer_folder, config.vocab_size, end_of_turn)
    for gguf_name, array in _tensors(model):
        data, keywords = _encoded(array, tensor_type)
        writer.add_tensor(gguf_name, data, **keywords)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _rope_theta(config) -> float:
    rope = getattr(config, "rope_parameters", None) or {}
    return float(rope.get("rope_theta", getattr(config, "rope_theta", 10000.0)))


def _head_dim(config) -> int:
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


def _add_vocabulary(writer, tokenizer, folder: Path, vocab_size: int, end_of_turn: int) -> None:
    import gguf

    tokens, types = _tokens(tokenizer, vocab_size)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre_tokenizer(tokenizer))
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    special = gguf.SpecialVocab(folder, load_merges=True, n_vocab=vocab_size)
    special.special_token_ids["eos"] = end_of_turn
    special.special_token_ids["eot"] = end_of_turn
    special.chat_template = tokenizer.chat_template
    special.add_to_gguf(writer, quiet=True)


def _tokens(tokenizer, vocab_size: int) -> tuple[list[str], list[int]]:
    """Every id's token and type, as llama.cpp's converter lists them (ids without a token are padding)."""
    import gguf

    by_id = {index: token for token, index in tokenizer.get_vocab().items()}
    added = tokenizer.added_tokens_decoder
    tokens, types = [], []
    for index in range(vocab_size):
        if index not in by_id:
            tokens.append(f"[PAD{index}]")
            types.append(gguf.TokenType.UNUSED)
        elif index in added:
            tokens.append(by_id[index])
            types.append(gguf.TokenType.CONTROL if added[index].special else gguf.TokenType.USER_DEFINED)
        else:
            tokens.append(by_id[index])
            types.append(gguf.TokenType.NORMAL)
    return tokens, types


def _tensors(model):
    """(GGUF name, fp32 array) for every weight; a head tied to the embeddings is written once."""
    import gguf

    config = model.config
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config.num_hidden_layers)
    for name, tensor in model.state_dict().items():
        if name == "lm_head.weight" and config.tie_word_embeddings:
            continue
        gguf_name = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            from tailor.errors import ExportError

            raise ExportError(f"--format gguf: no GGUF name for the model's tensor {name!r}")
        array = tensor.detach().to(torch.float32).cpu().numpy()
        if name.endswith("q_proj.weight"):
            array = _rotary_permuted(array, config.num_attention_heads)
        elif name.endswith("k_proj.weight"):
            array = _rotary_permuted(array, config.num_key_value_heads)
        yield gguf_name, array


def _rotary_permuted(weight: np.ndarray, heads: int) -> np.ndarray:
    """Each head's rows from transformers' (first half, second half) rotary order to llama.cpp's
    interleaved pairs."""
    return weight.reshape(heads, 2, weight.shape[0] // heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def _encoded(array: np.ndarray, tensor_type) -> tuple[np.ndarray, dict]:
    """(data, add_tensor keywords): vectors (norms) stay fp32, as llama.cpp keeps them; matrices get
    the chosen type where their rows split into its blocks, else f16."""
    import gguf

    if array.ndim < 2:
        return array.astype(np.float32), {}
    block = gguf.GGML_QUANT_SIZES[tensor_type][0]
    chosen = tensor_type if array.shape[-1] % block == 0 else gguf.GGMLQuantizationType.F16
    if chosen == gguf.GGMLQuantizationType.F16:
        return array.astype(np.float16), {}
    return gguf.quants.quantize(array, chosen), {"raw_dtype": chosen}
