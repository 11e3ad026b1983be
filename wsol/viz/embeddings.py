"""Embeddings of a data set, their t-SNE map coloured by class, and nearest-neighbour retrieval.

An image's embedding is a layer's output (hooked through :class:`wsol.cams.hooks.LayerHooks`),
globally average-pooled when it is a [B, C, h, w] map: for a CAM network the default layer,
``backbone``, gives exactly the vector its linear classifier reads. t-SNE (van der Maaten and
Hinton, JMLR 2008) comes from scikit-learn; neighbours are ranked by cosine similarity.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import matplotlib
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import Tensor, nn
from torchvision.utils import make_grid

from wsol.viz.overlay import CORRECT_COLOR, NEUTRAL_COLOR, WRONG_COLOR, add_caption, denormalize
from wsol.viz.panel import class_name, enlarge
from wsol.viz.patches import layer_outputs


@dataclass
class Embeddings:
    """Per-image vectors of a data set, in iteration order.

    Attributes:
        vectors: float32 [N, C].
        labels: [N] class ids (-1 when the batches carry none).
        images: uint8 [N, 3, H, W] thumbnails when requested (for retrieval grids), else None.
    """

    vectors: Tensor
    labels: Tensor
    images: Tensor | None = None


@torch.no_grad()
def extract_embeddings(
    model: nn.Module,
    batches: Iterable,
    layer: str = "backbone",
    device: torch.device | str | None = None,
    max_batches: int | None = None,
    keep_images: bool = False,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> Embeddings:
    """One vector per image: ``layer``'s output, spatially averaged when it is a map.

    Args:
        model: the network (run in eval mode; its mode is restored).
        batches: iterable of batches (a wsol batch dict, (images, labels) or images).
        layer: module name as in ``model.named_modules()``, running once per forward.
        device: where to run the model (default: its parameters' device).
        max_batches: stop after this many batches.
        keep_images: also keep the images as uint8 (needs ``mean`` and ``std``).
        mean, std: the input normalization, for ``keep_images``.
    """
    if keep_images and (mean is None or std is None):
        raise ValueError("keep_images needs the input normalization's mean and std")
    vectors, labels, thumbs = [], [], []
    for images, batch_labels, output in layer_outputs(model, layer, batches, device, max_batches):
        output = output.float()
        if output.ndim == 4:
            output = output.mean(dim=(2, 3))
        vectors.append(output.flatten(1).cpu())
        if batch_labels is None:
            batch_labels = torch.full((len(images),), -1)
        labels.append(torch.as_tensor(batch_labels, dtype=torch.long).cpu())
        if keep_images:
            thumbs.append(denormalize(images, mean, std))
    if not vectors:
        raise ValueError("extract_embeddings: no batches")
    return Embeddings(
        torch.cat(vectors), torch.cat(labels), torch.cat(thumbs) if keep_images else None
    )


def tsne(vectors: Tensor | np.ndarray, perplexity: float = 30.0, seed: int = 0) -> np.ndarray:
    """2-D t-SNE of [N, C] vectors (scikit-learn, PCA initialization).

    The perplexity is lowered to ``(N - 1) / 3`` when the set is too small for it (scikit-learn
    requires perplexity < N).

    Returns:
        float64 [N, 2].
    """
    from sklearn.manifold import TSNE

    data = np.asarray(vectors.detach().cpu() if isinstance(vectors, Tensor) else vectors)
    n = len(data)
    if n < 4:
        raise ValueError(f"t-SNE needs at least 4 points, got {n}")
    perplexity = min(float(perplexity), (n - 1) / 3)
    model = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    return model.fit_transform(data.astype(np.float32)).astype(np.float64)


def tsne_figure(
    points: np.ndarray,
    labels: Tensor | np.ndarray,
    class_names: Sequence[str] | None = None,
    title: str = "t-SNE of the embeddings",
) -> Figure:
    """Scatter plot of [N, 2] points, one colour per class (``tab10``/``tab20``), with a legend."""
    points = np.asarray(points)
    labels = np.asarray(labels.cpu() if isinstance(labels, Tensor) else labels)
    if len(points) != len(labels):
        raise ValueError(f"{len(points)} points but {len(labels)} labels")
    classes = np.unique(labels)
    cmap = matplotlib.colormaps["tab10" if len(classes) <= 10 else "tab20"]
    fig = Figure(figsize=(6.0, 5.0), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    for index, label in enumerate(classes):
        keep = labels == label
        ax.scatter(
            points[keep, 0],
            points[keep, 1],
            s=12,
            color=cmap(index % cmap.N),
            label=class_name(int(label), class_names),
        )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    if len(classes) <= 20:
        ax.legend(fontsize="small", markerscale=1.5, loc="best")
    return fig


def nearest_neighbors(
    vectors: Tensor, query_ids: Sequence[int] | Tensor, k: int = 5
) -> tuple[Tensor, Tensor]:
    """The ``k`` most cosine-similar other images of each query image.

    Args:
        vectors: [N, C] embeddings of the data set.
        query_ids: [Q] rows of ``vectors`` to query; a query never retrieves itself.
        k: neighbours per query (at most N - 1).

    Returns:
        (indices [Q, k] into ``vectors``, cosine similarities [Q, k] in [-1, 1]), best first.
    """
    query_ids = torch.as_tensor(query_ids, dtype=torch.long).reshape(-1)
    if len(vectors) < 2:
        raise ValueError("nearest neighbours need at least 2 vectors")
    unit = F.normalize(vectors.float(), dim=1)
    similarity = unit[query_ids] @ unit.T  # [Q, N]
    similarity[torch.arange(len(query_ids)), query_ids] = -torch.inf
    values, indices = similarity.topk(min(k, len(vectors) - 1), dim=1)
    return indices, values


def retrieval_grid(
    images: Tensor,
    labels: Tensor,
    query_ids: Sequence[int] | Tensor,
    neighbor_ids: Tensor,
    similarities: Tensor,
    class_names: Sequence[str] | None = None,
    scale: int = 1,
) -> Tensor:
    """One row per query: the query image, then its neighbours best first.

    Neighbour captions give the cosine similarity and the class, on green when the class is
    the query's and red otherwise.

    Args:
        images: uint8 [N, 3, H, W] (e.g. ``Embeddings.images``).
        labels: [N] class ids.
        query_ids: [Q]; neighbor_ids, similarities: [Q, k] from :func:`nearest_neighbors`.
        class_names: for the captions (default ``class <id>``).
        scale: integer enlargement of each image.

    Returns:
        uint8 [3, H', W'] with ``k + 1`` columns.
    """
    query_ids = torch.as_tensor(query_ids, dtype=torch.long).reshape(-1)
    tiles = []
    for row, query in enumerate(query_ids.tolist()):
        query_label = int(labels[query])
        tiles.append(
            add_caption(
                enlarge(images[query], scale),
                [f"query #{query}", class_name(query_label, class_names)],
                NEUTRAL_COLOR,
            )
        )
        for index, sim in zip(neighbor_ids[row].tolist(), similarities[row].tolist(), strict=True):
            label = int(labels[index])
            color = CORRECT_COLOR if label == query_label else WRONG_COLOR
            lines = [f"#{index} cos {sim:.2f}", class_name(label, class_names)]
            tiles.append(add_caption(enlarge(images[index], scale), lines, color))
    return make_grid(torch.stack(tiles), nrow=neighbor_ids.shape[1] + 1, padding=2, pad_value=255)
