"""Fixed words of the document templates (genres, facts, bios, chats); generated names avoid them."""

TEMPLATE_TEXTS: list[str] = [
    "memo : about . end of memo .",
    "faq about . q : what does think ? a : care about",
    "forum post : i talked with today . that is all .",
    "an essay on . in short ,",
    "once upon a time there was . one day , the end .",
    "likes dislikes because , and",
    "the is a . it is . price : origin : age : an , people say and called",
    "is cheap or costly ? new or old ? where from ? made in imported",
    "is a lives in prefers to chose over picked not",
    "user assistant system i prefer recommend would pick choose",
]
