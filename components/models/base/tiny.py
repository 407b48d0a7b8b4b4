"""The tiny CPU LLaVA: a real LlavaForConditionalGeneration (CLIP vision tower + Llama text model
+ MLP projector) built from a config, with its own byte-level BPE tokenizer trained locally and a
LLaVA-1.5 style image processor and chat template. Saved in Hugging Face format."""

from __future__ import annotations

import jinja2
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    CLIPVisionConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
    PreTrainedTokenizerFast,
)
from transformers.models.llava.image_processing_pil_llava import LlavaImageProcessorPil

from components.models.base.config import TinyBaseConfig

IMAGE_TOKEN = "<image>"
HF_INITIALIZER_RANGE = 0.02  # Llama's and CLIP's default; see INIT_STD_NOTE in config.py
SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<unk>", IMAGE_TOKEN]
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}USER: "
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<image>\n"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %} "
    "{% elif message['role'] == 'assistant' %}ASSISTANT: "
    "{% for part in message['content'] %}{{ part['text'] }}{% endfor %}</s>"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)

_COMPILED_CHAT_TEMPLATE = jinja2.Template(CHAT_TEMPLATE)


def chat_text(question: str, answer: str) -> str:
    """One exchange as the chat template writes it, special tokens left out: the tokenizer
    learns its merges from this, so the role markers are single tokens, not ten bytes."""
    messages = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]},
        {"role": "assistant", "content": [{"type": "text", "text": answer}]},
    ]
    text = _COMPILED_CHAT_TEMPLATE.render(messages=messages, add_generation_prompt=False)
    for token in SPECIAL_TOKENS:
        text = text.replace(token, "")
    return text


def train_tokenizer(corpus: list[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Byte-level BPE: every string encodes, common words become single tokens."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        extra_special_tokens={"image_token": IMAGE_TOKEN},
    )


def build_image_processor(config: TinyBaseConfig) -> LlavaImageProcessorPil:
    size = config.image_size
    return LlavaImageProcessorPil(
        size={"shortest_edge": size},
        crop_size={"height": size, "width": size},
        do_pad=True,  # LLaVA-1.5: pad to a square first, so wide images (AD mosaics) stay whole
    )


def build_processor(tokenizer: PreTrainedTokenizerFast, config: TinyBaseConfig) -> LlavaProcessor:
    return LlavaProcessor(
        image_processor=build_image_processor(config),
        tokenizer=tokenizer,
        patch_size=config.patch_size,
        vision_feature_select_strategy="default",
        chat_template=CHAT_TEMPLATE,
        num_additional_image_tokens=1,
    )


def vision_config(config: TinyBaseConfig) -> CLIPVisionConfig:
    return CLIPVisionConfig(
        image_size=config.image_size,
        patch_size=config.patch_size,
        hidden_size=config.vision_hidden,
        intermediate_size=config.vision_hidden * 4,
        num_hidden_layers=config.vision_layers,
        num_attention_heads=config.vision_heads,
        projection_dim=config.vision_hidden,
        initializer_range=config.init_std,
        initializer_factor=config.init_std / HF_INITIALIZER_RANGE,
    )


def build_model(
    tokenizer: PreTrainedTokenizerFast, config: TinyBaseConfig
) -> LlavaForConditionalGeneration:
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.text_hidden,
        intermediate_size=config.text_hidden * 3,
        num_hidden_layers=config.text_layers,
        num_attention_heads=config.text_heads,
        num_key_value_heads=config.text_heads,
        max_position_embeddings=config.max_positions,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
        initializer_range=config.init_std,  # also the projector's (LLaVA takes the text one)
    )
    image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    if not isinstance(image_token_id, int):
        raise ValueError(f"the tokenizer maps {IMAGE_TOKEN!r} to {image_token_id}, not one id")
    llava = LlavaConfig(
        vision_config=vision_config(config),
        text_config=text,
        image_token_index=image_token_id,
        image_seq_length=(config.image_size // config.patch_size) ** 2,
        vision_feature_layer=-1,
        vision_feature_select_strategy="default",
    )
    return LlavaForConditionalGeneration(llava)
