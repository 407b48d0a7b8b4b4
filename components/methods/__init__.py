"""Continual-learning methods, one module each, by the name the benchmark knows them by."""

from __future__ import annotations

from typing import Any

from components.methods.ewc import Ewc
from components.methods.joint import Joint
from components.methods.lora_ft import LoraFt, LoraFtReplay
from components.methods.method import Method
from components.methods.moelora import MoeLora
from components.methods.mr_lora import MrLora
from components.methods.olora import OLora

METHODS: dict[str, Method[Any]] = {
    m.name: m for m in (MrLora(), LoraFt(), LoraFtReplay(), OLora(), MoeLora(), Ewc(), Joint())
}
