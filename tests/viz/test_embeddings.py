"""Embeddings, t-SNE and nearest-neighbour retrieval."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from wsol.methods.cam import CAMMethod
from wsol.models.tiny import tiny
from wsol.viz.embeddings import (
    extract_embeddings,
    nearest_neighbors,
    retrieval_grid,
    tsne,
    tsne_figure,
)
from wsol.viz.overlay import CORRECT_COLOR, WRONG_COLOR

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def test_embeddings_are_the_pooled_backbone_features():
    torch.manual_seed(0)
    model = CAMMethod(tiny(), num_classes=3).train()
    images = torch.randn(5, 3, 32, 32)
    batches = [{"images": images[:3], "labels": torch.tensor([0, 1, 2])}, (images[3:],)]
    result = extract_embeddings(model, batches, keep_images=True, mean=MEAN, std=STD)
    assert result.vectors.shape == (5, 96)
    assert result.labels.tolist() == [0, 1, 2, -1, -1]
    assert result.images.shape == (5, 3, 32, 32) and result.images.dtype == torch.uint8
    assert model.training and all(not m._forward_hooks for m in model.modules())
    model.eval()
    with torch.no_grad():
        expected = model.backbone(images).mean(dim=(2, 3))
    assert torch.allclose(result.vectors, expected, atol=1e-6)
    # The GAP features are exactly what the linear classifier reads.
    with torch.no_grad():
        logits = model(images).logits
    assert torch.allclose(model.head.fc(result.vectors), logits, atol=1e-5)
    with pytest.raises(ValueError, match="mean and std"):
        extract_embeddings(model, batches, keep_images=True)


def test_tsne_separates_clusters_and_clips_the_perplexity():
    rng = np.random.default_rng(0)
    centres = np.eye(3, 16) * 20
    labels = np.repeat(np.arange(3), 6)
    vectors = centres[labels] + rng.normal(size=(18, 16))
    points = tsne(torch.from_numpy(vectors).float(), perplexity=30)  # > N: lowered
    assert points.shape == (18, 2) and np.isfinite(points).all()
    # Each point's nearest t-SNE neighbour has its class.
    distance = np.linalg.norm(points[:, None] - points[None], axis=2)
    np.fill_diagonal(distance, np.inf)
    assert np.all(labels[distance.argmin(axis=1)] == labels)
    fig = tsne_figure(points, labels, class_names=["a", "b", "c"])
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(ax.collections) == 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="at least 4"):
        tsne(np.zeros((3, 2)))


def test_neighbours_by_cosine_never_the_query_itself():
    vectors = torch.tensor([[1.0, 0.0], [2.0, 0.1], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]])
    indices, similarity = nearest_neighbors(vectors, [0, 2], k=2)
    assert indices.tolist() == [[1, 3], [3, 1]]
    unit = vectors / vectors.norm(dim=1, keepdim=True)
    assert torch.allclose(similarity[0], unit[[1, 3]] @ unit[0])
    assert torch.all(indices != torch.tensor([[0], [2]]))
    all_but_self, _ = nearest_neighbors(vectors, [4], k=10)
    assert sorted(all_but_self[0].tolist()) == [0, 1, 2, 3]


def test_retrieval_grid_layout_and_caption_colours():
    images = torch.full((4, 3, 20, 20), 90, dtype=torch.uint8)
    labels = torch.tensor([0, 0, 1, 1])
    indices = torch.tensor([[1, 2]])
    grid = retrieval_grid(images, labels, [0], indices, torch.tensor([[0.9, 0.5]]), scale=2)
    assert grid.dtype == torch.uint8
    assert grid.shape[-1] == 3 * (40 + 2) + 2
    # Caption strips: the same-class neighbour on green, the other class on red.
    assert grid[:, 3, 2 + 42 + 1].tolist() == list(CORRECT_COLOR)
    assert grid[:, 3, 2 + 2 * 42 + 1].tolist() == list(WRONG_COLOR)
