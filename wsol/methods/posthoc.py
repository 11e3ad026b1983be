"""Post-hoc explanations of a trained classifier, scored by the same evaluation path as CAMs.

`PosthocMethod` wraps any classifier (a wsol checkpoint's network or a torchvision model) and
one extractor of `wsol.cams`; its forward pass returns the classifier's logits and the
extractor's raw maps of the labels (or of the predicted classes), so validation, test and
prediction upsample and normalize them through the one CAM pipeline. It is evaluated, never
trained (``wsol-eval method=posthoc``).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable

import torch
import torchvision
from torch import Tensor, nn

from wsol.cams.extractors import Extractor, logits_of
from wsol.methods.base import WSOLMethod
from wsol.methods.outputs import MethodOutput
from wsol.models.weights import read_state_dict

log = logging.getLogger("wsol")


class PosthocMethod(WSOLMethod):
    """A classifier explained by a post-hoc extractor.

    Args:
        classifier: returns [B, K] logits (or an output with ``.logits``, as wsol methods do).
        extractor: factory ``extractor(classifier, ...) -> Extractor`` (a ``_partial_`` config of
            a `wsol.cams` class).
        target_layer: passed to the extractors that take one (a name relative to the
            classifier); ignored by the others (saliency, occlusion, ...).
        num_classes: K; by default the classifier's ``num_classes`` attribute.
    """

    #: Extractors take gradients: evaluation must not run under ``torch.inference_mode``.
    needs_gradients = True
    #: class_maps are [B, 1, h, w]: the map of the class each image was explained for.
    class_maps_per_image = True

    def __init__(
        self,
        classifier: nn.Module,
        extractor: Callable[..., Extractor],
        target_layer: str | None = None,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        self.classifier = classifier.eval()
        self.num_classes = int(num_classes or getattr(classifier, "num_classes", 0))
        if self.num_classes < 1:
            raise ValueError(
                f"{type(classifier).__name__} has no num_classes attribute: set method.num_classes"
            )
        takes_layer = "target_layer" in inspect.signature(extractor).parameters
        if takes_layer and target_layer is None:
            raise ValueError(f"{extractor} needs method.target_layer")
        kwargs = {"target_layer": target_layer} if takes_layer else {}
        self.extractor = extractor(self.classifier, **kwargs)
        if not isinstance(self.extractor, Extractor):
            raise TypeError(f"method.extractor must build a wsol.cams extractor, got {extractor}")

    def forward(self, images: Tensor, labels: Tensor | None = None) -> MethodOutput:
        """Args: images: [B, 3, H, W]; labels: [B] classes to explain (None: predicted ones).

        Returns:
            logits [B, K] and class_maps [B, 1, h, w], the raw maps of ``aux["class_ids"]``.
        """
        with torch.no_grad():
            logits = logits_of(self.classifier(images)).detach()
        class_ids = logits.argmax(dim=1) if labels is None else labels
        maps = self.extractor.explain(images, class_ids)
        return MethodOutput(logits=logits, class_maps=maps[:, None], aux={"class_ids": class_ids})

    def cams(self, output: MethodOutput, class_ids: Tensor) -> Tensor:
        """The explained maps [B, h, w]; only for the classes the forward pass explained."""
        if not torch.equal(class_ids.to(output.aux["class_ids"]), output.aux["class_ids"]):
            raise ValueError(
                "post-hoc maps exist only for the classes given to forward() (labels, or the "
                "predicted classes when labels is None)"
            )
        return output.class_maps[:, 0]

    def loss(self, output: MethodOutput, labels: Tensor) -> dict[str, Tensor]:
        """Cross-entropy of the classifier (validation loss); post-hoc methods are not trained."""
        if self.training:
            raise RuntimeError("method=posthoc explains a trained classifier: use wsol-eval")
        return {"loss": nn.functional.cross_entropy(output.logits, labels)}

    def param_groups(self, lr: float, head_lr_mult: float) -> list[dict]:
        """None: nothing is trained."""
        return []


def load_classifier(
    checkpoint: str | None = None,
    torchvision_name: str | None = None,
    weights: str | None = None,
    weights_path: str | None = None,
    num_classes: int | None = None,
) -> nn.Module:
    """The classifier to explain: a wsol checkpoint's network or a torchvision classifier.

    Args:
        checkpoint: a ``wsol-train`` checkpoint; its method (backbone + heads) is explained,
            layer names are then ``backbone``, ``head``, ...
        torchvision_name: a ``torchvision.models`` classifier (``resnet50``, ``vgg16``).
        weights: its torchvision weights by name (``IMAGENET1K_V1``; torchvision may download).
        weights_path: or a state-dict file of the torchvision model (loaded ``weights_only``).
        num_classes: classes of a torchvision model without named weights (default 1000).

    Returns:
        the classifier in eval mode, with a ``num_classes`` attribute.
    """
    if (checkpoint is None) == (torchvision_name is None):
        raise ValueError(
            "method.classifier: give exactly one of checkpoint=<wsol checkpoint> (default: "
            "ckpt_path) or torchvision_name=<torchvision classifier>"
        )
    if checkpoint is not None:
        if weights or weights_path:
            raise ValueError("method.classifier: weights/weights_path are for torchvision models")
        from wsol.checkpoints.load import module_from_checkpoint

        module, _ = module_from_checkpoint(checkpoint)
        return module.method.eval()
    if weights and weights_path:
        raise ValueError("method.classifier: give weights (a name) or weights_path, not both")
    kwargs = {} if weights or num_classes is None else {"num_classes": int(num_classes)}
    model = torchvision.models.get_model(torchvision_name, weights=weights, **kwargs)
    if weights_path:
        state = read_state_dict(weights_path)
        try:
            model.load_state_dict(state)
        except RuntimeError as error:
            raise ValueError(
                f"{weights_path}: not a state dict of {torchvision_name} ({error})"
            ) from error
    model.num_classes = _output_classes(model)
    log.info("Explaining torchvision %s (%d classes)", torchvision_name, model.num_classes)
    return model.eval()


def _output_classes(model: nn.Module) -> int:
    """K of a torchvision classifier: the out_features of its last linear layer."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no linear classifier layer")
    return linears[-1].out_features
