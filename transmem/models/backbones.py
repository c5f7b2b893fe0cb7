"""The registered backbones: how each builds the cell of layer l, whether it carries a zigzag memory, and whether it
draws a per-step latent (the stochastic SAVP backbone, transmem/models/savp.py)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from transmem.models.cells.base import CellSpec, RecurrentCell
from transmem.models.cells.convlstm import ConvLSTMCell
from transmem.models.cells.mim import MIMBlock
from transmem.models.cells.stlstm import STLSTMCell
from transmem.registry import BACKBONES


@dataclass(frozen=True)
class Backbone:
    make_cell: Callable[[int, CellSpec], RecurrentCell]  # (layer index, spec) -> cell
    zigzag: bool  # passes a spatiotemporal memory M through the layers
    peepholes: bool = False  # supports the optional peephole connections
    stochastic: bool = False  # a latent map z_t from a learned prior / posterior enters each step's input


BACKBONES.register("convlstm", "ConvLSTM (Shi et al., 2015)")(
    Backbone(lambda layer, spec: ConvLSTMCell(spec), zigzag=False, peepholes=True)
)
BACKBONES.register("predrnn", "PredRNN: stacked ST-LSTMs with a zigzag spatiotemporal memory (Wang et al., 2017)")(
    Backbone(lambda layer, spec: STLSTMCell(spec), zigzag=True)
)
BACKBONES.register("mim", "Memory In Memory: ST-LSTM first layer, MIM blocks above (Wang et al., 2019b)")(
    Backbone(lambda layer, spec: STLSTMCell(spec) if layer == 0 else MIMBlock(spec), zigzag=True)
)
BACKBONES.register("savp", "SAVP-style stochastic ConvLSTM: per-step latent map, learned prior (Lee et al., 2018)")(
    Backbone(lambda layer, spec: ConvLSTMCell(spec), zigzag=False, peepholes=True, stochastic=True)
)
