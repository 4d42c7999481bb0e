"""The names this module had before the data sources became one module each (skingan.data.sources).

Kept so that code written against them keeps working; nothing in skingan imports this module. New code uses
skingan.data.sources.registry (import_source, source_names), .labels, .tables and the source modules, and
PrepareOptions (skingan.data.prepare_options), which the old ImportOptions duplicated field by field.
"""

from __future__ import annotations

from skingan.data.prepare_options import PrepareOptions as ImportOptions
from skingan.data.sources.base import Imported
from skingan.data.sources.folder import read as import_folder
from skingan.data.sources.folder import read_class_folders as import_folder_classes
from skingan.data.sources.folder import read_labels_csv as import_folder_csv
from skingan.data.sources.ham10000 import HAM_DIAGNOSES, HAM_MALIGNANT
from skingan.data.sources.ham10000 import read as import_ham10000
from skingan.data.sources.isic import read as import_isic
from skingan.data.sources.isic2017 import ISIC2017_SPLITS
from skingan.data.sources.isic2017 import read as import_isic2017
from skingan.data.sources.isic_json import read as import_isic_json
from skingan.data.sources.labels import (
    BENIGN_WORDS,
    NEGATIVE_WORDS,
    OTHER_MALIGNANT_WORDS,
    POSITIVE_WORDS,
    TARGETS,
    UNKNOWN_WORDS,
    isic_fields_target,
    label_to_target,
)
from skingan.data.sources.phantom import read as import_phantom
from skingan.data.sources.registry import import_source, source_names
from skingan.data.sources.siim_isic_2020 import read as import_siim_2020
from skingan.data.sources.tables import (
    AGE_COLUMNS,
    ANATOMY_COLUMNS,
    LICENSE_COLUMNS,
    TABLE_COLUMNS,
    clean_age,
    csv_separator,
    find_file,
    first_column,
    index_images,
    licence_from_folder,
    make_table,
    read_csv_strings,
    require_columns,
    split_column,
)

SOURCES = source_names()

__all__ = [
    "AGE_COLUMNS", "ANATOMY_COLUMNS", "BENIGN_WORDS", "HAM_DIAGNOSES", "HAM_MALIGNANT", "ISIC2017_SPLITS",
    "LICENSE_COLUMNS", "NEGATIVE_WORDS", "OTHER_MALIGNANT_WORDS", "POSITIVE_WORDS", "SOURCES", "TABLE_COLUMNS",
    "TARGETS", "UNKNOWN_WORDS", "ImportOptions", "Imported", "clean_age", "csv_separator", "find_file",
    "first_column", "import_folder", "import_folder_classes", "import_folder_csv", "import_ham10000",
    "import_isic", "import_isic2017", "import_isic_json", "import_phantom", "import_siim_2020", "import_source",
    "index_images", "isic_fields_target", "label_to_target", "licence_from_folder", "make_table",
    "read_csv_strings", "require_columns", "split_column",
]
