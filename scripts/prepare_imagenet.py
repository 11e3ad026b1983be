"""ILSVRC class folders and val XML boxes → wsolevaluation metadata (``train/``, ``test/``).

    python scripts/prepare_imagenet.py --train TRAIN_DIR --val-images VAL_DIR \
        --val-boxes XML_DIR OUT_DIR [--val-list FILE] [--workers N]

Class index = position of the WNID in sorted order. The ILSVRC validation images become the
protocol's ``test`` split. Nothing is downloaded; unusable images are listed in
``OUT_DIR/refused.txt``.
"""

from wsol.data.formats.convert import converter_parser, options, report
from wsol.data.formats.imagenet import prepare_imagenet


def main() -> int:
    parser = converter_parser(__doc__)
    parser.add_argument("--train", help="TRAIN_DIR/<wnid>/<image> class folders")
    parser.add_argument("--val-images", help="folder of the validation images")
    parser.add_argument("--val-boxes", help="folder of the validation XML files")
    parser.add_argument("out_dir", help="where the metadata folders are written")
    args = parser.parse_args()
    return report(
        prepare_imagenet(
            args.out_dir,
            train_dir=args.train,
            val_images=args.val_images,
            val_boxes=args.val_boxes,
            **options(args),
        )
    )


if __name__ == "__main__":
    raise SystemExit(main())
