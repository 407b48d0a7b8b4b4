"""The comparison protocol: each method through several task orders and training seeds. The
first order is the track's own (the paper's); the others are permutations drawn from seeds 1,
2, ... (each differing from every order before it where the tasks allow), so a run of N orders
always contains the runs of fewer. Seed s trains every adapter from seed s (its initial weights
and data order)."""

from __future__ import annotations

import math
import random

from pydantic import BaseModel

from components.jobs.job import BenchmarkScope
from components.methods.method import Method


class ProtocolRun(BaseModel):
    order_index: int  # 0: the track's own order
    tasks: list[str]  # in the order they are learned
    seed: int

    @property
    def is_main(self) -> bool:
        """The paper's run: the track's order, seed 0."""
        return self.order_index == 0 and self.seed == 0

    def label(self, method: str) -> str:
        if self.is_main:
            return method
        return f"{method} (order {self.order_index + 1}, seed {self.seed})"


def task_orders(tasks: list[str], count: int) -> list[list[str]]:
    """`count` orders of `tasks`: theirs first, then seeded permutations."""
    if count < 1:
        raise ValueError(f"the number of task orders must be at least 1, not {count}")
    distinct = math.factorial(len(tasks))
    orders = [list(tasks)]
    draw = 0
    while len(orders) < count:
        draw += 1
        order = list(tasks)
        random.Random(draw).shuffle(order)
        if order not in orders or len(orders) >= distinct:
            orders.append(order)
    return orders


def protocol_runs(tasks: list[str], orders: int, seeds: int) -> list[ProtocolRun]:
    """Every (order, seed) run, the main one first."""
    if seeds < 1:
        raise ValueError(f"the number of seeds must be at least 1, not {seeds}")
    return [
        ProtocolRun(order_index=i, tasks=order, seed=seed)
        for i, order in enumerate(task_orders(tasks, orders))
        for seed in range(seeds)
    ]


def method_runs(method: Method, runs: list[ProtocolRun]) -> list[ProtocolRun]:
    """The runs `method` takes: all of them, or one per seed (in the track's order) for a
    method that learns every task at once, which no order changes."""
    if method.all_at_once:
        return [run for run in runs if run.order_index == 0]
    return runs


def seeded_scope(scope: BenchmarkScope, seed: int) -> BenchmarkScope:
    """The scope whose jobs train from `seed`."""
    settings = scope.settings.model_copy(update={"train_seed": seed})
    return scope.model_copy(update={"settings": settings})
