"""Data sources: the layouts `skingan prepare --source NAME` turns into one table, one module per source.

    base.py       the interface: DataSource (name, summary, read, needs_input, check), SourceOptions, Imported
    registry.py   finds every module here that defines SOURCE; source_names(), get_source(), import_source()
    labels.py     label text → 1/0/unknown for --target malignant or melanoma
    tables.py     the table a source returns (make_table) and the file/CSV helpers to read a layout with
    isic.py, ham10000.py, siim_isic_2020.py, isic2017.py, medmnist.py, folder.py, isic_json.py, phantom.py
                  the sources (medmnist reads one .npz file: DataSource(input_file=True, own_split=True))

Adding a source is one module and one test: `my_archive.py` here with

    def read(root: Path, options: SourceOptions) -> Imported:
        labels = find_file(root, ("my_labels.csv",), "my_labels.csv")
        frame = read_csv_strings(labels)
        images = index_images(root)
        rows = {"image_id": frame["id"], "path": [str(images.get(i, "")) for i in frame["id"]],
                "label": frame["dx"], "target": [label_to_target(v, options.target) for v in frame["dx"]]}
        return Imported(make_table(rows, "my-archive"), files=[labels])  # files: a changed one rebuilds

    SOURCE = DataSource("my-archive", "my_labels.csv + images", read)

and `skingan prepare --source my-archive --input DIR --out OUT` works; decoding, de-duplication, grouped splits
and caches are prepare's. A test builds a tiny layout in tmp_path and checks the table (tests/test_sources.py).
"""
