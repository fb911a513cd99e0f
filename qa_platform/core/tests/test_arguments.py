from qa_platform.core.arguments import comma_list


def test_items_are_stripped_and_blanks_dropped():
    assert comma_list(" x265, landmark-warp ,,vp9,") == ["x265", "landmark-warp", "vp9"]


def test_nothing_gives_an_empty_list():
    assert comma_list(None) == comma_list("") == comma_list(" , ") == []
