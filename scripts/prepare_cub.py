"""CUB-200-2011 as distributed → wsolevaluation metadata: ``OUT_DIR/{train,test}/`` (+ ``val/``).

    python scripts/prepare_cub.py CUB_ROOT OUT_DIR [--val-list FILE] [--workers N]

Nothing is downloaded. Every image is decoded once; unusable ones are refused and listed in
``OUT_DIR/refused.txt``. Running it again writes the same files.
"""

from wsol.data.formats.convert import converter_parser, options, report
from wsol.data.formats.cub import prepare_cub


def main() -> int:
    parser = converter_parser(__doc__)
    parser.add_argument("cub_root", help="the CUB_200_2011 folder (images.txt, images/, ...)")
    parser.add_argument("out_dir", help="where the metadata folders are written")
    args = parser.parse_args()
    return report(prepare_cub(args.cub_root, args.out_dir, **options(args)))


if __name__ == "__main__":
    raise SystemExit(main())
