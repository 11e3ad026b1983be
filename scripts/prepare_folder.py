"""Your own images, ``ROOT/<class>/<image>`` with optional boxes (Pascal VOC XML next to an
image, or one COCO-style JSON file) → wsolevaluation metadata (``train/``, ``val/``, ``test/``).

    python scripts/prepare_folder.py ROOT OUT_DIR [--coco FILE] [--val-list FILE]
        [--test-list FILE] [--workers N]

Images without boxes are trained on but not scored; the summary counts them.
"""

from wsol.data.formats.convert import converter_parser, options, report
from wsol.data.formats.folder import prepare_folder


def main() -> int:
    parser = converter_parser(__doc__)
    parser.add_argument("root", help="folder of class folders")
    parser.add_argument("out_dir", help="where the metadata folders are written")
    parser.add_argument("--coco", help="COCO-style JSON file with the boxes")
    parser.add_argument("--test-list", help="file of image ids (one per line) to put in test/")
    args = parser.parse_args()
    return report(
        prepare_folder(
            args.root,
            args.out_dir,
            coco=args.coco,
            test_list=args.test_list,
            **options(args),
        )
    )


if __name__ == "__main__":
    raise SystemExit(main())
