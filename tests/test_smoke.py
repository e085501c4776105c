from archive_manager import filing, reading


def test_file_and_get_round_trip(archive, tmp_path):
    src = tmp_path / "合同.txt"
    src.write_bytes("广告发布合同".encode())
    bob = archive.login("bob")
    filed = filing.file_document(bob, src, "C001", "contract")
    out = tmp_path / "out.txt"
    reading.export_to_path(bob, filed.doc_id, out)
    assert out.read_bytes() == src.read_bytes()
