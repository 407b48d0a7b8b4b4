"""The tiny base, experts, router and two-stage inference on the micro benchmark (CPU, seconds)."""

import hashlib
import json
import math
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoProcessor, CLIPVisionConfig, LlamaConfig, LlavaForConditionalGeneration

from components.data.build import load_split
from components.data.tasks import task_spec
from components.models.base.loading import load_base
from components.models.generation import generate_answers
from components.models.lora.adapters import continued, load_adapters, train_adapter
from components.models.lora.settings import EXPERT_PRESETS, ROUTER_PRESETS, TrainSettings
from components.models.lora.training import (
    EncodedSamples,
    SampleList,
    answer_token_loss,
    per_worker_batch,
)
from components.models.mrlora.letters import (
    candidate_probabilities,
    decode_official,
    letter_choices,
)
from components.models.mrlora.prototypes import (
    PROTOTYPES_FILE,
    Prototypes,
    base_features,
    build_prototype_router,
    router_kind,
)
from components.models.mrlora.router_depth import DEPTH_FILE, first_layers, read_depth
from components.models.mrlora.spec import router_spec
from components.models.mrlora.two_stage import TwoStage
from components.models.prompts import (
    IGNORE_INDEX,
    Sample,
    encode_prompts,
    encode_training,
    in_length_batches,
    split_at_image,
)
from components.models.samples import evaluation_samples, task_samples, training_samples
from components.models.vision import vision_states
from tests.helpers import FAST_EXPERT, ONE_EPOCH_EXPERT, train_micro_expert


def _folder_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def test_tiny_base_is_a_real_llava(tiny_base):
    folder = tiny_base.ref.name_or_path
    model = LlavaForConditionalGeneration.from_pretrained(folder)
    processor = AutoProcessor.from_pretrained(folder)
    assert isinstance(model.config.vision_config, CLIPVisionConfig)
    assert isinstance(model.config.text_config, LlamaConfig)
    init_std = tiny_base.config.init_std  # the configured spread, not Hugging Face's 0.02
    assert model.config.text_config.initializer_range == init_std
    assert model.config.vision_config.initializer_range == init_std
    assert (Path(folder) / "model.safetensors").is_file()
    assert tiny_base.built and tiny_base.log_history[0]["loss"] > tiny_base.log_history[-2]["loss"]
    answers = generate_answers(
        model, processor, [Sample(_image(), "What is the background color?")]
    )
    assert isinstance(answers[0], str)


def test_samples_are_batched_shortest_question_first_and_answered_in_their_order(tiny_base):
    questions = ["What is shown, in as many words as it takes?", "Color?", "Which shape is it?"]
    samples = [Sample(_image(), q) for q in questions]
    batches = []
    seen: list[list[str]] = []

    def upper(batch: list[Sample]) -> list[str]:
        seen.append([s.question for s in batch])
        return [s.question.upper() for s in batch]

    assert in_length_batches(samples, 2, upper) == [q.upper() for q in questions]
    assert seen == [[questions[1], questions[2]], [questions[0]]]
    model = LlavaForConditionalGeneration.from_pretrained(tiny_base.ref.name_or_path)
    processor = AutoProcessor.from_pretrained(tiny_base.ref.name_or_path)
    handle = model.register_forward_pre_hook(
        lambda _, args, kwargs: batches.append(kwargs["input_ids"].shape), with_kwargs=True
    )
    answers = generate_answers(model, processor, samples, batch_size=2, max_new_tokens=1)
    handle.remove()
    alone = [generate_answers(model, processor, [s], max_new_tokens=1)[0] for s in samples]
    # the two shorter questions together, the longest alone; answers as each sample alone
    assert [shape[0] for shape in batches[:2]] == [2, 1]
    assert batches[0][1] < batches[1][1]
    assert answers == alone


def _image():
    from PIL import Image

    return Image.new("RGB", (64, 64), (220, 40, 40))


def test_training_inputs_mask_the_prompt(tiny_base):
    processor = AutoProcessor.from_pretrained(tiny_base.ref.name_or_path)
    batch = encode_training(
        processor, [Sample(_image(), "What color?", "red"), Sample(_image(), "Q?", "a b c")]
    )
    labels = batch["labels"][0]
    answer = labels[labels != IGNORE_INDEX].tolist()
    assert answer[-1] == processor.tokenizer.eos_token_id
    assert processor.tokenizer.decode(answer[:-1]).strip() == "red"
    image_id = processor.tokenizer.convert_tokens_to_ids("<image>")
    assert (batch["input_ids"][0] == image_id).sum() == 16  # (64 / 16) ** 2 patches


def test_training_samples_are_encoded_once_unless_recoloured(tiny_base, monkeypatch):
    from components.models.lora import training

    processor = AutoProcessor.from_pretrained(tiny_base.ref.name_or_path)
    samples = [Sample(_image(), f"Q{i}?", "red") for i in range(4)]
    encoded: list[str] = []
    real = training.encode_example

    def counting(processor, sample):
        encoded.append(sample.question)
        return real(processor, sample)

    monkeypatch.setattr(training, "encode_example", counting)
    kept = EncodedSamples(SampleList(samples), processor)
    batch = training.collate_training(processor.tokenizer.pad_token_id, [kept[i] for i in range(4)])
    again = [kept[i] for i in (0, 1, 2, 3)]
    assert encoded == ["Q0?", "Q1?", "Q2?", "Q3?"]  # the second epoch encoded nothing
    assert again[0] is kept.kept[0]
    direct = encode_training(processor, samples)
    assert batch.keys() == direct.keys()
    assert all(torch.equal(batch[key], direct[key]) for key in batch)

    one = kept.kept[0].nbytes
    tight = EncodedSamples(SampleList(samples), processor, budget=2 * one)
    [tight[i] for i in range(4)]
    assert sorted(tight.kept) == [0, 1]  # what fits the budget is kept, the rest re-encoded
    encoded.clear()
    recoloured = EncodedSamples(SampleList(samples, augment=1.0, seed=0), processor)
    [recoloured[i] for i in range(4)], [recoloured[i] for i in range(4)]
    assert len(encoded) == 8 and not recoloured.kept  # each epoch's colours are new


def test_answer_token_loss_is_the_causal_lm_loss_on_fewer_logits(tiny_base):
    processor = AutoProcessor.from_pretrained(tiny_base.ref.name_or_path)
    model = LlavaForConditionalGeneration.from_pretrained(tiny_base.ref.name_or_path)
    batch = encode_training(
        processor, [Sample(_image(), "What color?", "red"), Sample(_image(), "Q?", "a b c")]
    )
    keep = batch.pop("logits_to_keep")
    with torch.no_grad():
        full = model(**batch).loss  # Hugging Face's own loss, every position projected
        labels = batch.pop("labels")
        outputs = model(**batch, logits_to_keep=keep)
    answer_tokens = int((labels != IGNORE_INDEX).sum())
    assert outputs.logits.shape[0] == answer_tokens  # only the positions that predict a label
    assert torch.allclose(answer_token_loss(outputs, labels), full, atol=1e-6)
    summed = answer_token_loss(outputs, labels, num_items_in_batch=answer_tokens)
    assert torch.allclose(summed, full, atol=1e-6)  # the Trainer's gradient-accumulation form


def test_expert_training_lowers_the_loss_and_leaves_other_experts_untouched(
    tiny_base, micro_home, tmp_path
):
    first = train_micro_expert(micro_home, "RS", tiny_base, tmp_path / "RS")
    assert first.losses[-1] < first.losses[0]
    assert (tmp_path / "RS" / "adapter_model.safetensors").is_file()
    config = json.loads((tmp_path / "RS" / "adapter_config.json").read_text())
    assert "multi_modal_projector" in config["modules_to_save"]
    assert "lm_head" not in str(config["target_modules"]) and "vision_tower" not in str(
        config["target_modules"]
    )
    before = _folder_hash(tmp_path / "RS")
    train_micro_expert(micro_home, "Med", tiny_base, tmp_path / "Med")
    assert _folder_hash(tmp_path / "RS") == before


def test_the_batch_is_split_over_the_workers_that_train_together(monkeypatch):
    settings = TrainSettings(batch_size=16)
    assert per_worker_batch(settings) == 16
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert per_worker_batch(settings) == 8
    monkeypatch.setenv("WORLD_SIZE", "3")
    with pytest.raises(ValueError, match="batch_size 16 does not split over 3 training workers"):
        per_worker_batch(settings)


def test_chat_role_markers_are_single_tokens(tiny_base):
    tokenizer = AutoProcessor.from_pretrained(tiny_base.ref.name_or_path).tokenizer
    assert len(tokenizer(" ASSISTANT:", add_special_tokens=False)["input_ids"]) <= 2
    assert len(tokenizer("USER:", add_special_tokens=False)["input_ids"]) <= 2


def _two_colour_image():
    from PIL import Image

    image = Image.new("RGB", (64, 64), (240, 240, 230))
    image.paste((30, 40, 200), (8, 8, 24, 24))  # a blue square on a light page
    return image


def test_router_augmentation_recolours_but_keeps_the_layout():
    samples = [Sample(_two_colour_image(), "Q?", "A") for _ in range(40)]
    first, second = SampleList(samples, augment=1.0, seed=3), SampleList(samples, 1.0, seed=3)
    seen, again = [first[i] for i in range(40)], [second[i] for i in range(40)]
    assert all(a.image.tobytes() == b.image.tobytes() for a, b in zip(seen, again, strict=True))
    changed = {s.image.getpixel((40, 40)) for s in seen}
    assert len(changed) > 10  # many colourings of the page
    for sample in seen:
        pixels = sample.image.load()
        assert sample.image.size == (64, 64) and (sample.question, sample.answer) == ("Q?", "A")
        assert pixels[16, 16] != pixels[40, 40]  # the square is still there, in its place
    untouched = SampleList(samples)[0]
    assert untouched is samples[0]
    assert ROUTER_PRESETS["cpu"].train.augment_images > 0
    assert EXPERT_PRESETS["cpu"].train.augment_images == 0  # experts learn their domain's colours


def test_fully_trained_modules_get_their_own_learning_rate(tiny_base):
    from peft import get_peft_model

    from components.models.lora.peft_config import lora_config
    from components.models.lora.training import optimizer

    model = LlavaForConditionalGeneration.from_pretrained(tiny_base.ref.name_or_path)
    peft_model = get_peft_model(model, lora_config(EXPERT_PRESETS["cpu"]))
    train = EXPERT_PRESETS["cpu"].train.model_copy(update={"full_modules_lr_ratio": 0.5})
    low_rank, full = optimizer(peft_model, train).param_groups
    assert low_rank["lr"] == train.learning_rate and full["lr"] == train.learning_rate * 0.5
    projector = {
        id(p) for n, p in peft_model.named_parameters() if "multi_modal_projector" in n
    } & {id(p) for p in full["params"]}
    assert projector and len(full["params"]) + len(low_rank["params"]) == sum(
        p.requires_grad for p in peft_model.parameters()
    )
    even = train.model_copy(update={"full_modules_lr_ratio": 1.0})
    assert optimizer(peft_model, even) is None  # the Trainer's own


def test_an_expert_trains_the_same_whatever_ran_before(tiny_base, micro_home, tmp_path):
    settings = ONE_EPOCH_EXPERT
    train_micro_expert(micro_home, "Med", tiny_base, tmp_path / "first", settings)
    torch.rand(1000)  # other work in the process draws from the global generator
    train_micro_expert(micro_home, "Med", tiny_base, tmp_path / "second", settings)
    first = (tmp_path / "first" / "adapter_model.safetensors").read_bytes()
    assert (tmp_path / "second" / "adapter_model.safetensors").read_bytes() == first


def test_expert_answers_the_same_in_a_fresh_process(tiny_base, micro_home, tmp_path):
    train_micro_expert(micro_home, "Fin", tiny_base, tmp_path / "Fin", ONE_EPOCH_EXPERT)
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from components.data.build import load_split\n"
        "from components.models.lora.adapters import load_adapters\n"
        "from components.models.generation import generate_answers\n"
        "from components.models.samples import evaluation_samples\n"
        "samples, _ = evaluation_samples(load_split(Path(sys.argv[1]), 'micro', 'Fin', 'test'))\n"
        "model, processor = load_adapters(sys.argv[2], {'Fin': Path(sys.argv[3])})\n"
        "print(json.dumps(generate_answers(model, processor, samples)))\n"
    )
    arguments = [str(micro_home / "data"), tiny_base.ref.name_or_path, str(tmp_path / "Fin")]
    # the fresh process starts (its imports take most of its time) while this one answers
    fresh = subprocess.Popen(
        [sys.executable, "-c", script, *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    samples, _ = evaluation_samples(load_split(micro_home / "data", "micro", "Fin", "test"))
    model, processor = load_adapters(tiny_base.ref.name_or_path, {"Fin": tmp_path / "Fin"})
    here = generate_answers(model, processor, samples)
    out, err = fresh.communicate(timeout=300)
    assert fresh.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1]) == here


def test_router_prompt_and_letters():
    specs = [task_spec("RS"), task_spec("Med"), task_spec("Fin")]
    spec = router_spec(specs)
    assert spec.letters == "ABC" and spec.task_of("C") == "Fin"
    context, question = spec.context(), spec.question("How many buildings?")
    assert "A. remote sensing" in context and "C. finance" in context
    assert "letter" in context  # the instruction is shared by every input: cached with the list
    assert question == "How many buildings?"
    with pytest.raises(ValueError, match="needs"):
        router_spec(specs, template="{question} {experts}")
    pinned = router_spec(specs, pinned={"Fin": "A", "RS": "E", "Med": "C"})
    assert pinned.letters == "ACE" and pinned.task_of("A") == "Fin"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("B", "B"), ("B.", "B"), ("AB", "A"), ("The answer is B", None), ("", None), ("x", None)],
)
def test_official_router_decoding(text, expected):
    rng = random.Random(0)
    chosen = decode_official(text, "ABC", rng)
    if expected is None:  # illegal output: a random expert
        assert chosen in "ABC"
        picks = {decode_official(text, "ABC", random.Random(seed)) for seed in range(20)}
        assert len(picks) > 1
    else:
        assert chosen == expected


def test_a_letter_comes_with_its_probability_among_the_candidates():
    logits = torch.tensor([[0.0, 2.0, 5.0, 1.0], [0.0, 1.0, -3.0, 1.0]])
    chosen = letter_choices(logits, [1, 3], "AB")  # token 2 is no candidate, however likely
    assert [letter for letter, _ in chosen] == ["A", "A"]
    assert chosen[0][1] == pytest.approx(math.exp(2) / (math.exp(2) + math.exp(1)))
    assert chosen[1][1] == pytest.approx(0.5)  # a tie: as unsure as two letters can be
    both = candidate_probabilities(logits, [1, 3])
    assert torch.allclose(both.sum(dim=1), torch.ones(2))


@pytest.mark.parametrize("decoding", ["constrained", "official"])
def test_router_routes_each_task_to_its_expert(
    tiny_base, micro_home, two_experts_and_router, decoding
):
    experts, router, spec = two_experts_and_router
    bundle = TwoStage(tiny_base.ref.name_or_path, router, experts, spec, decoding=decoding)
    for task in ("RS", "Fin"):
        samples, _ = evaluation_samples(load_split(micro_home / "data", "micro", task, "test"))
        routed = bundle.route(samples)
        assert all(r.letter in spec.letters for r in routed)
        assert all(0 < r.confidence <= 1 for r in routed)
        if decoding == "constrained":  # the chosen letter is the likeliest of the candidates
            assert all(r.confidence >= 1 / len(spec.letters) for r in routed)
        share = sum(r.task == task for r in routed) / len(routed)
        assert share >= (0.9 if decoding == "constrained" else 0.5), (
            task,
            [r.router_output for r in routed],
        )


def test_router_rows_continue_the_expert_list_tokenized_once(
    tiny_base, micro_home, two_experts_and_router
):
    experts, router, spec = two_experts_and_router
    bundle = TwoStage(tiny_base.ref.name_or_path, router, experts, spec)
    rs, _ = evaluation_samples(load_split(micro_home / "data", "micro", "RS", "test"))
    fin, _ = evaluation_samples(load_split(micro_home / "data", "micro", "Fin", "test"))
    samples = rs[:3] + fin[:3]
    prompts = [spec.sample(s.image, s.question) for s in samples]
    splits = [split_at_image(bundle.processor, p) for p in prompts]
    prefix = bundle._router_prefix(splits, prompts[0])
    assert prefix.split_exact
    rests = bundle._encode_rests(prompts, splits, prefix)
    whole = encode_prompts(bundle.processor, prompts, padding_side="right")
    for key in ("input_ids", "attention_mask"):  # rows of different lengths: right padding
        assert torch.equal(rests[key], whole[key][:, prefix.length :])
    assert torch.equal(rests["pixel_values"], whole["pixel_values"])
    split_letters = [r.letter for r in bundle.route(samples)]
    bundle._prefix.split_exact = False  # what a tokenizer that reads the rest differently gets
    assert [r.letter for r in bundle.route(samples)] == split_letters


@pytest.mark.parametrize("shared", [True, False])
def test_two_stage_answers_with_the_chosen_expert_and_reuses_vision(
    tiny_base, micro_home, two_experts_and_router, shared
):
    """The experts answer from the vision features the routing computed, or (where an adapter
    touches the tower: forced here) from the pixel values it encoded: as each expert alone."""
    experts, router, spec = two_experts_and_router
    bundle = TwoStage(tiny_base.ref.name_or_path, router, experts, spec)
    assert bundle.share_vision
    bundle.share_vision = shared
    rs, _ = evaluation_samples(load_split(micro_home / "data", "micro", "RS", "test"))
    fin, _ = evaluation_samples(load_split(micro_home / "data", "micro", "Fin", "test"))
    mixed = [s for pair in zip(rs[:6], fin[:6], strict=True) for s in pair]
    results = bundle.answer(mixed, batch_size=5)
    assert [r.task for r in results] == ["RS", "Fin"] * 6
    for task in ("RS", "Fin"):  # the same answers as that expert alone, on raw pixels
        model, processor = load_adapters(tiny_base.ref.name_or_path, {task: experts[task]})
        alone = generate_answers(
            model, processor, [s for s, r in zip(mixed, results, strict=True) if r.task == task]
        )
        assert [r.answer for r in results if r.task == task] == alone


def test_vision_features_are_computed_once_per_image(tiny_base, two_experts_and_router, micro_home):
    experts, router, spec = two_experts_and_router
    bundle = TwoStage(tiny_base.ref.name_or_path, router, experts, spec)
    tower = bundle.model.get_base_model().model.vision_tower
    calls = []
    handle = tower.register_forward_hook(
        lambda module, args, output: calls.append(args[0].shape[0])
    )
    samples, _ = evaluation_samples(load_split(micro_home / "data", "micro", "RS", "test"))
    bundle.answer(samples[:4], batch_size=4)
    handle.remove()
    assert calls == [4]
    assert torch.is_grad_enabled()


def test_two_stage_answers_a_mixed_stream_in_full_expert_batches(
    tiny_base, micro_home, two_experts_and_router
):
    experts, router, spec = two_experts_and_router
    bundle = TwoStage(tiny_base.ref.name_or_path, router, experts, spec)
    rs, _ = evaluation_samples(load_split(micro_home / "data", "micro", "RS", "test"))
    fin, _ = evaluation_samples(load_split(micro_home / "data", "micro", "Fin", "test"))
    mixed = [s for pair in zip(rs[:4], fin[:4], strict=True) for s in pair]
    switches, expert_prefills = [], []
    switch = bundle.model.set_adapter
    bundle.model.set_adapter = lambda name: (switches.append(name), switch(name))

    def record(module, args, kwargs):
        ids = kwargs["input_ids"]
        if bundle.model.active_adapter != "router" and ids.shape[1] > 1:
            expert_prefills.append(ids.shape[0])

    llava = bundle.model.get_base_model()
    handle = llava.register_forward_pre_hook(record, with_kwargs=True)
    results = bundle.answer(mixed, batch_size=4)
    handle.remove()
    assert [r.task for r in results] == ["RS", "Fin"] * 4
    # routed in two batches (the router is active from loading), then one switch per expert,
    # whose four samples are answered in one batch, not two by two
    assert switches == ["RS", "Fin"]
    assert expert_prefills == [4, 4]


def test_a_shallow_router_reads_its_first_layers_only(
    tiny_base, micro_home, two_experts_and_router
):
    """The cpu preset's router is trained on, and routes through, the first language layer; the
    experts still answer through every layer of the same model."""
    experts, router, spec = two_experts_and_router
    assert ROUTER_PRESETS["cpu"].language_layers == 1
    assert read_depth(router) == 1
    config = json.loads((router / "adapter_config.json").read_text(encoding="utf-8"))
    assert re.fullmatch(config["target_modules"], "model.language_model.layers.0.mlp.up_proj")
    assert not re.fullmatch(config["target_modules"], "model.language_model.layers.1.mlp.up_proj")
    bundle = TwoStage(tiny_base.ref.name_or_path, router, experts, spec)
    layers = bundle.model.get_base_model().model.language_model.layers
    assert len(layers) == 3
    runs: dict[str, list[int]] = {"router": [], "experts": []}
    handles = [
        layer.register_forward_pre_hook(
            lambda module, args, index=index: runs[
                "router" if bundle.model.active_adapter == "router" else "experts"
            ].append(index)
        )
        for index, layer in enumerate(layers)
    ]
    samples, _ = evaluation_samples(load_split(micro_home / "data", "micro", "Fin", "test"))
    bundle.answer(samples[:4], batch_size=4)
    for handle in handles:
        handle.remove()
    assert set(runs["router"]) == {0}  # the cached expert list and the batch: layer 0 alone
    assert set(runs["experts"]) == {0, 1, 2}
    assert len(bundle.model.get_base_model().model.language_model.layers) == 3


def test_a_router_depth_is_checked(tiny_base, tmp_path):
    model, _ = load_base(tiny_base.ref.name_or_path)
    too_deep = "a router of 4 language layers: this base's language model has 3"
    with pytest.raises(ValueError, match=too_deep), first_layers(model, 4):
        pass
    with first_layers(model, 2):
        assert len(model.model.language_model.layers) == 2
    assert len(model.model.language_model.layers) == 3
    assert read_depth(tmp_path) is None  # a router saved before depths were recorded: all
    (tmp_path / DEPTH_FILE).write_text('{"language_layers": 0}', encoding="utf-8")
    with pytest.raises(ValueError, match=f"{DEPTH_FILE}: language_layers must be a positive"):
        read_depth(tmp_path)
    (tmp_path / DEPTH_FILE).write_text("[1]", encoding="utf-8")
    with pytest.raises(ValueError, match="not a router depth record"):
        read_depth(tmp_path)


def test_continuing_an_adapter_starts_from_its_weights(tiny_base, micro_home, tmp_path):
    from safetensors.torch import load_file

    first = train_micro_expert(micro_home, "RS", tiny_base, tmp_path / "first", ONE_EPOCH_EXPERT)
    frozen = FAST_EXPERT.model_copy(
        update={"train": TrainSettings(epochs=1, learning_rate=0.0, batch_size=8)}
    )
    samples = training_samples(load_split(micro_home / "data", "micro", "Fin", "train"))
    again = train_adapter(
        tiny_base.ref.name_or_path,
        samples,
        frozen,
        tmp_path / "again",
        start=continued(first.folder),
        progress=False,
    )
    before = load_file(first.folder / "adapter_model.safetensors")
    after = load_file(again.folder / "adapter_model.safetensors")
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)  # lr 0: nothing moved


@pytest.fixture(scope="module")
def prototype_router(tiny_base, micro_home, tmp_path_factory):
    replay = {t: task_samples(micro_home / "data", "micro", t, "router") for t in ("RS", "Fin")}
    out = tmp_path_factory.mktemp("prototypes") / "router"
    return build_prototype_router(tiny_base.ref.name_or_path, replay, out)


def test_prototype_features_are_the_base_own_whatever_expert_is_active(
    tiny_base, micro_home, two_experts_and_router
):
    experts, _, _ = two_experts_and_router  # experts that train the vocabulary too
    samples = task_samples(micro_home / "data", "micro", "RS", "router")[:6]
    base, processor = load_base(tiny_base.ref.name_or_path)
    alone = base_features(base, processor, samples)
    model, processor = load_adapters(tiny_base.ref.name_or_path, experts)
    model.set_adapter("Fin")
    under = base_features(model, processor, samples)
    assert torch.allclose(alone.image, under.image, atol=1e-5)
    assert torch.allclose(alone.question, under.question, atol=1e-5)
    assert model.active_adapter == "Fin"
    # a LoRA in the tower (as the ability track's experts have): off for the features only
    from peft import LoraConfig, get_peft_model

    tower_lora = LoraConfig(
        r=4, target_modules=r".*vision_tower.*(q_proj|fc1)", init_lora_weights=False
    )
    adapted = get_peft_model(load_base(tiny_base.ref.name_or_path)[0], tower_lora)
    pixels = processor.image_processor(images=[s.image for s in samples], return_tensors="pt")[
        "pixel_values"
    ]
    llava = adapted.get_base_model()
    before = vision_states(llava, pixels)
    assert not torch.allclose(before.mean(dim=1), alone.image, atol=1e-3)  # the LoRA matters
    assert torch.allclose(base_features(adapted, processor, samples).image, alone.image, atol=1e-5)
    assert torch.equal(vision_states(llava, pixels), before)  # switched back on


def test_prototype_router_is_built_and_costs_what_its_head_holds(prototype_router):
    folder = prototype_router.folder
    assert router_kind(folder) == "prototype"
    head = Prototypes.load(folder)
    assert head.tasks == ("RS", "Fin")
    assert prototype_router.trainable_parameters == head.weight.numel() + head.bias.numel()
    assert prototype_router.adapter_bytes == (folder / PROTOTYPES_FILE).stat().st_size
    assert not prototype_router.folder.with_name("router.partial").exists()


@pytest.mark.parametrize("shared", [True, False])
def test_bundle_routes_by_prototypes_and_answers_with_the_expert(
    tiny_base, micro_home, two_experts_and_router, prototype_router, shared
):
    experts, _, spec = two_experts_and_router
    bundle = TwoStage(tiny_base.ref.name_or_path, prototype_router.folder, experts, spec)
    assert bundle.kind == "prototype" and "router" not in bundle.model.peft_config
    bundle.share_vision = shared  # False: as where the experts adapt the tower
    rs, _ = evaluation_samples(load_split(micro_home / "data", "micro", "RS", "test"))
    fin, _ = evaluation_samples(load_split(micro_home / "data", "micro", "Fin", "test"))
    mixed = [s for pair in zip(rs[:6], fin[:6], strict=True) for s in pair]
    tower = bundle.model.get_base_model().model.vision_tower
    calls = []
    handle = tower.register_forward_hook(lambda m, args, out: calls.append(args[0].shape[0]))
    results = bundle.answer(mixed, batch_size=12)
    handle.remove()
    # each image through the tower once for the router and the expert, or once each
    assert calls == ([12] if shared else [12, 6, 6])
    assert [r.task for r in results] == ["RS", "Fin"] * 6
    assert all(r.letter == spec.letter_of(r.task) and 0.5 <= r.confidence <= 1 for r in results)
    for task in ("RS", "Fin"):  # the same answers as that expert alone, on raw pixels
        model, processor = load_adapters(tiny_base.ref.name_or_path, {task: experts[task]})
        own = [s for s, r in zip(mixed, results, strict=True) if r.task == task]
        alone = generate_answers(model, processor, own)
        assert [r.answer for r in results if r.task == task] == alone


def test_a_prototype_router_for_other_experts_is_refused(
    tiny_base, two_experts_and_router, prototype_router
):
    experts, _, spec = two_experts_and_router
    with pytest.raises(ValueError, match="routes to RS, Fin, not to the experts given"):
        TwoStage(tiny_base.ref.name_or_path, prototype_router.folder, {"RS": experts["RS"]}, spec)
