"""Reading users' files: every bad input gets an error naming the file, the line or
record, and the problem."""

import gzip

import numpy as np
import pytest

from dna_tutorial.datafiles import DataFileError, load_data, read_records

GOOD = (
    "id,seq,score\na,ACGTACGT,1.5\nb,TTTTACGA,2.0\nc,GGGGCCCC,-1\nd,acgtacgt,0.25\n"
    "e,AAAAAAAA,3\nf,CCCCCCCC,4\ng,GGGGGGGG,5\nh,TTTTTTTT,6\n"
)  # 8 rows: two in each part of the split


def _write(tmp_path, name, text, compress=False):
    path = tmp_path / name
    data = text.encode()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def test_a_good_csv_loads_with_ids_lowercase_and_a_split(tmp_path):
    data = load_data(_write(tmp_path, "d.csv", GOOD))
    assert data.seqs[3] == "ACGTACGT" and data.task == "regress"
    np.testing.assert_array_equal(data.targets, np.float32([1.5, 2.0, -1, 0.25, 3, 4, 5, 6]))
    assert data.split.sizes() == {"train": 4, "val": 2, "test": 2}
    assert read_records(tmp_path / "d.csv").ids == list("abcdefgh")


@pytest.mark.parametrize("name", ["d.tsv", "d.tsv.gz", "d.csv.gz", "d.txt"])
def test_tsv_and_gzip_are_read_too(tmp_path, name):
    text = GOOD.replace(",", "\t") if ".csv" not in name else GOOD
    path = _write(tmp_path, name, text, compress=name.endswith(".gz"))
    assert load_data(path).seqs[0] == "ACGTACGT"


def test_columns_are_chosen_by_name(tmp_path):
    path = _write(tmp_path, "d.csv", "name,dna,activity\na,ACGT,1\nb,AAAA,2\nc,CCCC,3\n")
    records = read_records(path, seq_col="dna", target_col="activity", id_col="name")
    assert records.seqs == ["ACGT", "AAAA", "CCCC"] and records.ids == ["a", "b", "c"]
    assert records.targets == ["1", "2", "3"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"d.csv is empty"),
        ("seq,score\n", r"d.csv has a header but no rows"),
        ("seq,score\nACGT,1\nACXT,2\nAAAA,3\n", r"d.csv, line 3: invalid letter 'X' at position 2"),
        ("seq,score\nACGT,1\n,2\nAAAA,3\n", r"d.csv, line 3: empty sequence"),
        ("sequence,score\nACGT,1\n", r"d.csv, line 1: no column 'seq'; the header has"),
        ("seq,value\nACGT,1\n", r"no column 'score'"),
        ("seq,score,seq\nACGT,1,A\n", r"line 1: duplicate column\(s\) \['seq'\]"),
        ("seq,score\nACGT,1\nAAAA,high\nCCCC,3\n", r"line 3: score 'high' is not a number"),
        ("seq,score\nACGT,1\nAAAA,nan\nCCCC,3\n", r"line 3: score is 'nan'; targets must be"),
        ("seq,score\nACGT,1\nAAAA,-inf\nCCCC,3\n", r"line 3: score is '-inf'"),
        ("seq,score\nACGT,1\nAAAA,1e39\nCCCC,3\n", r"line 3: score '1e39' is beyond float32"),
        ("seq,score\nACGT,1\nAAAA,\nCCCC,3\n", r"line 3: score '' is not a number"),
        ("seq,score\nACGT,1\nAAAA\nCCCC,3\n", r"line 3: 1 fields, but the header has 2"),
        (
            "seq,score\n" + "ACGT,1\n" * 7,
            r"has 7 sequence\(s\); the train/validation/test split "
            r"needs at least 8 \(two in each part\)",
        ),
        ("seq,score\nACGT,1\nAAAA,nan\n", r"line 3: score is 'nan'"),  # before the count
        (
            "seq,score\nACGT,1\nAAAAA,2\nCCCC,3\n",
            r"differ in length \(4 in line 2, 5 in line 3\)"
            r".*--pad-to",
        ),
    ],
)
def test_bad_tables_are_refused_naming_file_and_line(tmp_path, text, message):
    with pytest.raises(DataFileError, match=message):
        load_data(_write(tmp_path, "d.csv", text))


def test_unreadable_files(tmp_path):
    with pytest.raises(DataFileError, match=r"absent\.csv: no such file"):
        load_data(tmp_path / "absent.csv")
    with pytest.raises(DataFileError, match="cannot read it"):
        load_data(tmp_path)  # a directory
    (tmp_path / "latin1.csv").write_bytes("seq,score\nACGT,1\n# caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataFileError, match="not UTF-8 text"):
        load_data(tmp_path / "latin1.csv")
    (tmp_path / "cut.csv.gz").write_bytes(gzip.compress(GOOD.encode())[:20])
    with pytest.raises(DataFileError, match="not a readable gzip file"):
        load_data(tmp_path / "cut.csv.gz")


def test_pad_and_trim_make_one_length(tmp_path):
    path = _write(tmp_path, "d.csv", "seq,score\nACG,1\nACGTA,2\nAC,3\nACGTACG,4\n")
    padded = read_records(path, pad_to=7)
    assert padded.seqs == ["ACGNNNN", "ACGTANN", "ACNNNNN", "ACGTACG"]
    assert read_records(path, trim_to=2).seqs == ["AC", "AC", "AC", "AC"]
    assert read_records(path, pad_to=4, trim_to=4).seqs == ["ACGN", "ACGT", "ACNN", "ACGT"]
    with pytest.raises(
        DataFileError, match=r"line 3: length 5 is more than --pad-to 4; add --trim-to 4"
    ):
        read_records(path, pad_to=4)


FASTA = ">s1 score=1.5\nACGT\nACGT\n>s2 2.5\nTTTTACGA\n>s3 kind=x score=-1\nggggcccc\n" + "".join(
    f">s{i} score={i}\nAAAAAAAA\n" for i in range(4, 9)
)


@pytest.mark.parametrize("name", ["d.fa", "d.fasta.gz", "d.fna"])
def test_fasta_with_targets_in_headers(tmp_path, name):
    data = load_data(_write(tmp_path, name, FASTA, compress=name.endswith(".gz")))
    assert data.seqs[:3] == ["ACGTACGT", "TTTTACGA", "GGGGCCCC"] and len(data.seqs) == 8
    np.testing.assert_array_equal(data.targets, np.float32([1.5, 2.5, -1, 4, 5, 6, 7, 8]))


def test_fasta_with_a_side_table(tmp_path):
    fasta = _write(tmp_path, "d.fa", ">s1\nACGT\n>s2\nTTTT\n>s3\nGGGG\n")
    table = _write(tmp_path, "labels.tsv", "id\tscore\ns3\t3\ns1\t1\ns2\t2\n")
    assert read_records(fasta, labels=table).targets == ["1", "2", "3"]
    _write(tmp_path, "short.csv", "id,score\ns1,1\n")
    with pytest.raises(DataFileError, match=r"no 'score' for 2 sequence id\(s\).*\['s2', 's3'\]"):
        read_records(fasta, labels=tmp_path / "short.csv")
    _write(tmp_path, "dup.csv", "id,score\ns1,1\ns1,2\n")
    with pytest.raises(DataFileError, match=r"dup.csv, line 3: id 's1' appears twice"):
        read_records(fasta, labels=tmp_path / "dup.csv")
    twice = _write(tmp_path, "twice.fa", ">s1\nACGT\n>s2\nTTTT\n>s1\nGGGG\n")
    with pytest.raises(DataFileError, match=r"twice.fa, record 3 \(>s1, line 5\): id 's1' also"):
        read_records(twice, labels=table)  # one label would go to two sequences


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ACGT\n>s1 score=1\nACGT\n", r"line 1: sequence before any '>' header"),
        (
            ">s1 score=1\nACGT\n>s2\nACGT\n>s3 score=2\nACGT\n",
            r"record 2 \(>s2, line 3\): no 'score' in the header",
        ),
        (">s1 score=1\nACGT\n>s2 score=2\n>s3 score=3\nAAAA\n", r"record 2 .*: empty sequence"),
        (
            ">s1 score=1\nACGT\n>s2 score=2\nACZT\n>s3 score=3\nAAAA\n",
            r"record 2 \(>s2, line 3\): invalid letter 'Z' at position 2",
        ),
        (">\nACGT\n", r"line 1: a '>' header without an id"),
    ],
)
def test_bad_fasta_is_refused_naming_the_record(tmp_path, text, message):
    with pytest.raises(DataFileError, match=message):
        load_data(_write(tmp_path, "d.fa", text))


def test_classification_labels_become_classes(tmp_path):
    path = _write(tmp_path, "d.csv", "seq,label\n" + "ACGT,bound\nAAAA,free\n" * 4)
    data = load_data(path, task="classify", target_col="label")
    assert data.class_names == ("bound", "free")
    np.testing.assert_array_equal(data.targets, [0, 1] * 4)
    numeric = _write(tmp_path, "n.csv", "seq,label\n" + "ACGT,10\nAAAA,2\n" * 4)
    assert load_data(numeric, task="classify", target_col="label").class_names == ("2", "10")
    single = _write(tmp_path, "s.csv", "seq,label\nACGT,a\nAAAA,a\nCCCC,a\n")
    with pytest.raises(DataFileError, match="at least two classes"):
        load_data(single, task="classify", target_col="label")
    missing = _write(tmp_path, "m.csv", "seq,label\nACGT,a\nAAAA,\nCCCC,b\n")
    with pytest.raises(DataFileError, match=r"line 3: missing label \(class label\)"):
        load_data(missing, task="classify", target_col="label")


def test_labels_option_is_for_fasta_only(tmp_path):
    with pytest.raises(DataFileError, match="--labels goes with FASTA"):
        load_data(_write(tmp_path, "d.csv", GOOD), labels=tmp_path / "x.csv")


def test_the_shipped_sample_is_what_its_generator_writes(tmp_path):
    from dna_tutorial.examples import make_sample

    written = make_sample.write_sample(tmp_path / "sample.csv")
    assert written.read_bytes() == make_sample.PATH.read_bytes()
    data = load_data(make_sample.PATH, target_col="activity")
    assert (len(data.seqs), data.seq_len) == (make_sample.NUM_SEQS, make_sample.SEQ_LEN)
    raw = [line.split(",")[1] for line in make_sample.PATH.read_text().splitlines()[1:]]
    assert 0.15 < np.mean([seq != seq.upper() for seq in raw]) < 0.25  # soft-masked rows
    assert data.seqs == [seq.upper() for seq in raw]
