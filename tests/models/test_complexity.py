import torch
from torch import nn

from clearspeech.models.complexity import count_macs


def test_layer_counts_match_hand_arithmetic():
    conv = nn.Conv1d(2, 4, kernel_size=3, padding=1)  # 4 x 10 outputs x (2 x 3)
    assert count_macs(conv, lambda: conv(torch.zeros(1, 2, 10))) == 4 * 10 * 6
    deconv = nn.ConvTranspose1d(4, 2, kernel_size=3, stride=2)  # each of 4 x 5 inputs scatters 2 x 3
    assert count_macs(deconv, lambda: deconv(torch.zeros(1, 4, 5))) == 4 * 5 * 6
    linear = nn.Linear(8, 3)
    assert count_macs(linear, lambda: linear(torch.zeros(2, 5, 8))) == 2 * 5 * 3 * 8
    lstm = nn.LSTM(6, 4, num_layers=2, batch_first=True, bidirectional=True)
    per_step = 2 * 4 * 4 * (6 + 4) + 2 * 4 * 4 * (8 + 4)
    assert count_macs(lstm, lambda: lstm(torch.zeros(3, 7, 6))) == per_step * 3 * 7


def test_nested_modules_and_repeated_calls_add_up():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    x = torch.zeros(1, 4)
    assert count_macs(model, lambda: (model(x), model(x))) == 2 * (16 + 8)
