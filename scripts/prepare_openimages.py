"""OpenImages30k (images ``<split>/<class>/<id>.jpg``, masks ``<id>_m<class>_<hash>.png`` and
``<id>_ignore.png``) → wsolevaluation metadata (``train/``, ``val/``, ``test/``).

    python scripts/prepare_openimages.py OPENIMAGES_ROOT OUT_DIR [--mask-root DIR] [--workers N]

Nothing is downloaded; unusable images and masks are listed in ``OUT_DIR/refused.txt``.
"""

from wsol.data.formats.convert import converter_parser, options, report
from wsol.data.formats.openimages import prepare_openimages


def main() -> int:
    parser = converter_parser(__doc__)
    parser.add_argument("root", help="folder with train/, val/, test/ class folders of images")
    parser.add_argument("out_dir", help="where the metadata folders are written")
    parser.add_argument("--mask-root", help="folder of the masks (default: the image root)")
    args = parser.parse_args()
    return report(
        prepare_openimages(
            args.root,
            args.out_dir,
            mask_root=args.mask_root,
            **options(args),
        )
    )


if __name__ == "__main__":
    raise SystemExit(main())
