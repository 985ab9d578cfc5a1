"""Generate the seed corpus of labelled Vietnamese comments (models/seed_corpus.jsonl).

Deterministic: `python models/make_corpus.py` always writes the same file (fixed seed, no
clock, no environment). How and why it is built this way: models/CORPUS.md.

Every example comes from a *family*: a handful of templates with vocabulary slots, written by
this team to imitate one kind of comment a news portal receives. Whole families are held out
for the test split (`HELD_OUT`), so the test measures whether the model generalises to a kind
of comment it has never seen, not whether it remembers a template.
"""

from __future__ import annotations

import json
import random
import re
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path

SEED = 20261127
OUT = Path(__file__).resolve().parent / "seed_corpus.jsonl"

# ----------------------------------------------------------------------------- vocabulary
V: dict[str, list[str]] = {
    "quan": ["Cầu Giấy", "Đống Đa", "Hoàn Kiếm", "Ba Đình", "Hai Bà Trưng", "Long Biên", "Tây Hồ",
             "Thanh Xuân", "Hoàng Mai", "Hà Đông", "Nam Từ Liêm", "Bắc Từ Liêm", "Gia Lâm", "Đông Anh"],
    "phuong": ["Dịch Vọng", "Láng Hạ", "Hàng Bạc", "Kim Mã", "Bạch Mai", "Ngọc Lâm", "Nhật Tân",
               "Khương Trung", "Định Công", "Văn Quán", "Mỹ Đình 2", "Cổ Nhuế 1", "Trâu Quỳ", "Uy Nỗ"],
    "duong": ["Nguyễn Trãi", "Láng", "Giải Phóng", "Kim Mã", "Xuân Thủy", "Phạm Văn Đồng",
              "Trường Chinh", "Lê Văn Lương", "Tố Hữu", "Nguyễn Xiển", "Minh Khai", "Cầu Giấy",
              "Hoàng Quốc Việt", "Nguyễn Văn Cừ", "Võ Chí Công", "vành đai 3"],
    "thanhpho": ["Hà Nội", "TP.HCM", "Đà Nẵng", "Hải Phòng", "Cần Thơ", "Huế", "Nha Trang", "Vinh"],
    "truong": ["trường tiểu học Dịch Vọng", "THCS Nguyễn Du", "THPT Chu Văn An", "trường mầm non Hoa Sen",
               "THPT Kim Liên", "trường tiểu học Kim Đồng", "THCS Trưng Vương", "THPT Yên Hòa"],
    "benhvien": ["Bạch Mai", "Việt Đức", "Nhi Trung ương", "Thanh Nhàn", "Xanh Pôn", "Đống Đa",
                 "Tâm Anh", "E", "Thanh Trì", "Đức Giang"],
    "doibong": ["tuyển Việt Nam", "Hà Nội FC", "Công an Hà Nội", "Viettel", "Nam Định", "HAGL",
                "U23 Việt Nam", "tuyển nữ", "Thể Công", "Bình Định"],
    "cauthu": ["Quang Hải", "Công Phượng", "Tiến Linh", "Văn Hậu", "Hoàng Đức", "Xuân Son",
               "Văn Lâm", "Đình Bắc", "Huỳnh Như", "Văn Quyết"],
    "mathang": ["xăng", "thịt lợn", "rau xanh", "gạo", "điện", "nước sạch", "gas", "trứng", "sữa",
                "vàng", "học phí", "tiền nhà", "vé xe buýt", "giá gửi xe"],
    "dichvu": ["cấp căn cước", "đăng ký khai sinh", "cấp sổ đỏ", "làm hộ chiếu", "đăng ký xe",
               "cấp giấy phép xây dựng", "chuyển hộ khẩu", "đóng bảo hiểm y tế", "nộp thuế đất"],
    "vande": ["ùn tắc", "ngập úng", "rác thải", "tiếng ồn", "bụi mịn", "lấn chiếm vỉa hè",
              "đèn đường hỏng", "ổ gà", "cây xanh đổ", "trông xe trái phép", "xả thải ra sông"],
    "vanhoa": ["lễ hội chùa Hương", "phố đi bộ Hồ Gươm", "Văn Miếu", "nhà hát Lớn", "làng gốm Bát Tràng",
               "bảo tàng Hà Nội", "múa rối nước", "ca trù", "hội sách", "Tết Trung thu phố Hàng Mã"],
    "thoigian": ["sáng nay", "tối qua", "hôm qua", "mấy hôm nay", "tuần trước", "chiều nay",
                 "cả tháng nay", "từ đầu năm", "giờ tan tầm", "cuối tuần"],
    "so": ["2", "3", "5", "10", "15", "20", "30", "45"],
}

HO = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ",
      "Hồ", "Ngô", "Dương", "Lý", "Đinh", "Trịnh", "Mai", "Cao"]
DEM = ["Văn", "Thị", "Minh", "Thu", "Đức", "Ngọc", "Thanh", "Quốc", "Hữu", "Kim", "Xuân", "Bảo", ""]
TEN = ["An", "Bình", "Cường", "Dũng", "Giang", "Hà", "Hải", "Hằng", "Hiếu", "Hoa", "Hùng", "Huyền",
       "Khánh", "Lan", "Linh", "Long", "Mai", "Minh", "Nam", "Nga", "Ngọc", "Phong", "Phương", "Quân",
       "Sơn", "Tâm", "Thảo", "Thắng", "Trang", "Tú", "Tuấn", "Vân", "Việt", "Yến"]


def person(rng: random.Random) -> str:
    """A reader's name as readers type them: full, short, with place, lower case, no tones..."""
    ho, dem, ten = rng.choice(HO), rng.choice(DEM), rng.choice(TEN)
    full = " ".join(p for p in (ho, dem, ten) if p)
    style = rng.random()
    if style < 0.45:
        return full
    if style < 0.60:
        return f"{dem} {ten}".strip()
    if style < 0.68:
        return f"{full} - {rng.choice(V['quan'])}"
    if style < 0.76:
        return strip_tones(full)
    if style < 0.82:
        return full.lower()
    if style < 0.87:
        return rng.choice(["Bạn đọc", "Độc giả", "Người dân", "Một phụ huynh", "Cư dân", "Tài xế"])
    if style < 0.91:
        return f"{rng.choice(['Bác', 'Cô', 'Chú', 'Anh', 'Chị', 'Ông', 'Bà'])} {ten}"
    if style < 0.94:
        # Some real readers do put a year or a number in their name.
        return f"{strip_tones(ten).lower()}{rng.choice(['87', '1990', '95', '2k1', '79'])}"
    return ten


# ----------------------------------------------------------------------------- registers
TEEN = [
    (r"\bkhông\b", ["ko", "k", "hok", "kg", "khum"]), (r"\bđược\b", ["dc", "đc", "đk"]),
    (r"\bvậy\b", ["z", "v", "zậy"]), (r"\bquá\b", ["wá", "qá", "quớ"]), (r"\bgì\b", ["j", "gì"]),
    (r"\bbiết\b", ["bít", "bik"]), (r"\brồi\b", ["r", "rùi", "ròi"]), (r"\bmình\b", ["mk", "mik", "mìn"]),
    (r"\bthế\b", ["thía", "thế"]), (r"\bvới\b", ["vs", "zới"]), (r"\bnhiều\b", ["nhìu", "nh"]),
    (r"\bbạn\b", ["bn", "b"]), (r"\banh\b", ["a"]), (r"\bem\b", ["e"]), (r"\bchị\b", ["c"]),
    (r"\bthôi\b", ["thui"]), (r"\byêu\b", ["iu"]), (r"\bnhưng\b", ["nhưg", "nhg"]), (r"\bcũng\b", ["cx", "cũg"]),
    (r"\btrước\b", ["trc"]), (r"\bngười\b", ["ng", "ngừi"]), (r"\bđi\b", ["đii", "di"]),
]


def strip_tones(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if unicodedata.category(c) != "Mn"))


def teen(text: str, rng: random.Random) -> str:
    for pattern, subs in TEEN:
        if rng.random() < 0.8:
            text = re.sub(pattern, lambda _m, s=subs: rng.choice(s), text, flags=re.I)
    return text


def typos(text: str, rng: random.Random) -> str:
    chars = list(text)
    for _ in range(max(1, len(chars) // 60)):
        i = rng.randrange(len(chars) - 1) if len(chars) > 2 else 0
        op = rng.random()
        if op < 0.4 and chars[i].isalpha():
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        elif op < 0.7:
            del chars[i]
        else:
            chars.insert(i, chars[i])
    return "".join(chars)


def register(text: str, rng: random.Random, *, spam: bool) -> tuple[str, str]:
    """Rewrite a text in a register a real commenter would use; returns (text, register)."""
    r = rng.random()
    if r < 0.38:
        return text, "formal"
    if r < 0.58:
        return strip_tones(text), "no_diacritics"
    if r < 0.70:
        return teen(text, rng), "teen"
    if r < 0.80:
        return typos(text, rng), "typos"
    if r < 0.87:
        return text.lower(), "lower"
    if r < 0.92 and spam:
        return text.upper(), "upper"
    if r < 0.96:
        return strip_tones(teen(text, rng)).lower(), "teen_no_diacritics"
    return text + rng.choice([" !!!", " ...", "??", " 😡", " 👍", " 🙏", " :(", " hic"]), "emotive"


# ----------------------------------------------------------------------------- templates
def fill(template: str, rng: random.Random, extra: dict[str, list[str]] | None = None) -> str:
    pool = {**V, **(extra or {})}

    def one(m: re.Match[str]) -> str:
        return rng.choice(pool[m.group(1)])

    return re.sub(r"\{(\w+)\}", one, template)


Family = tuple[str, str, str, list[str], dict[str, list[str]], list[str]]
# (family id, label, category, templates, extra slots, titles)

HAM: list[Family] = [
    ("ham_traffic_jam", "ham", "traffic", [
        "Đường {duong} {thoigian} tắc kinh khủng, đi {so} cây số mất cả tiếng. Đề nghị thành phố sớm có giải pháp.",
        "{thoigian} đoạn {duong} lại {vande}, người dân khổ quá mà chưa thấy ai xử lý.",
        "Tôi đi làm qua {duong} hằng ngày, {vande} ngày càng nặng. Mong phân luồng hợp lý hơn.",
        "Làm đường {duong} mãi không xong, rào chắn chiếm nửa lòng đường, giờ tan tầm không nhúc nhích được.",
    ], {}, ["Ùn tắc", "Giao thông", "Bức xúc", "Góp ý", "Đường {duong}"]),
    ("ham_traffic_rules", "ham", "traffic", [
        "Phạt nguội là đúng, nhưng biển báo trên {duong} bị cây che khuất, nhiều người vi phạm mà không biết.",
        "Ủng hộ xử lý nghiêm vi phạm nồng độ cồn. Uống rượu bia thì đừng lái xe.",
        "Đèn tín hiệu ở ngã tư {duong} thời gian đèn xanh quá ngắn, đề nghị điều chỉnh lại.",
        "Xe tải chạy vào nội đô giờ cấm vẫn thấy nhan nhản, lực lượng chức năng cần kiểm tra.",
    ], {}, ["Luật giao thông", "Ý kiến", "Đồng tình", "Kiến nghị"]),
    ("ham_traffic_transit", "ham", "traffic", [
        "Tuyến buýt số {so} chạy thưa quá, đợi {so} phút chưa có xe. Mong tăng chuyến giờ cao điểm.",
        "Đường sắt Cát Linh - Hà Đông đi rất tiện, giá vé hợp lý. Mong sớm có thêm tuyến metro.",
        "Bãi gửi xe gần ga thu {so} nghìn một lượt là quá cao so với quy định.",
        "Vé tháng xe buýt nên cho mua online, xếp hàng ở điểm bán mất thời gian lắm.",
    ], {}, ["Xe buýt", "Metro", "Giao thông công cộng", "Góp ý"]),
    ("ham_city_admin", "ham", "city_admin", [
        "Phường {phuong} làm thủ tục {dichvu} nhanh, cán bộ nhiệt tình. Cảm ơn các anh chị.",
        "Tôi nộp hồ sơ {dichvu} trên cổng dịch vụ công từ {thoigian} mà vẫn chưa có kết quả, không biết hỏi ai.",
        "Đề nghị quận {quan} công khai tiến độ giải phóng mặt bằng để người dân được biết.",
        "Việc sáp nhập phường cần lấy ý kiến người dân kỹ hơn, nhất là về tên gọi mới.",
        "Cán bộ tiếp dân ở quận {quan} trả lời rõ ràng, hướng dẫn tận tình. Rất đáng ghi nhận.",
    ], {}, ["Thủ tục hành chính", "Cải cách hành chính", "Góp ý", "Cảm ơn", "Kiến nghị"]),
    ("ham_city_environment", "ham", "city_admin", [
        "Khu vực {phuong} {vande} kéo dài, đã phản ánh nhiều lần nhưng chưa được giải quyết.",
        "Mỗi lần mưa to là {duong} {vande}, hệ thống thoát nước cần được nâng cấp.",
        "Rác để ven đường {duong} mấy ngày không ai thu gom, bốc mùi rất khó chịu.",
        "Hồ trong khu dân cư {phuong} ô nhiễm nặng, cá chết nổi trắng. Đề nghị kiểm tra nguồn xả thải.",
        "Không khí {thoigian} ô nhiễm quá, chỉ số bụi mịn ở {quan} lúc nào cũng màu đỏ.",
    ], {}, ["Môi trường", "Ô nhiễm", "Phản ánh", "Rác thải"]),
    ("ham_health", "ham", "health", [
        "Bệnh viện {benhvien} đông quá, tôi chờ từ 6h sáng đến trưa mới được khám.",
        "Cảm ơn các y bác sĩ bệnh viện {benhvien} đã cứu chữa cho mẹ tôi. Các bác sĩ rất tận tâm.",
        "Thiếu thuốc bảo hiểm y tế, người bệnh phải tự mua ngoài, rất tốn kém. Mong Bộ Y tế sớm giải quyết.",
        "Dịch sốt xuất huyết đang tăng ở {quan}, đề nghị phường phun thuốc diệt muỗi định kỳ.",
        "Đặt lịch khám online ở {benhvien} tiện hơn hẳn, không phải xếp hàng lấy số.",
    ], {}, ["Y tế", "Bệnh viện", "Sức khỏe", "Cảm ơn bác sĩ"]),
    ("ham_health_advice", "ham", "health", [
        "Mọi người nên đi tiêm phòng cúm cho trẻ trước mùa đông, ở trạm y tế phường giá rẻ hơn.",
        "Thực phẩm bẩn tràn lan, mong cơ quan chức năng kiểm tra các bếp ăn trường học.",
        "Nhà thuốc gần nhà tôi bán kháng sinh không cần đơn, cần quản lý chặt hơn.",
        "Bài viết hữu ích, cảm ơn tác giả đã chia sẻ cách phòng bệnh cho người cao tuổi.",
    ], {}, ["Sức khỏe", "Ý kiến", "Cảm ơn", "Góp ý"]),
    ("ham_schools", "ham", "schools", [
        "Con tôi học {truong}, sĩ số {so} em một lớp là quá đông, cô giáo không thể kèm hết.",
        "Các khoản thu đầu năm ở {truong} quá nhiều, phụ huynh rất băn khoăn.",
        "Ủng hộ bỏ thi giữa kỳ ở tiểu học, các cháu đỡ áp lực hơn.",
        "Tuyển sinh lớp 10 năm nay điểm chuẩn cao quá, nhiều em giỏi mà không đỗ trường công.",
        "Thầy cô {truong} rất tận tâm, cảm ơn nhà trường đã tổ chức buổi ngoại khóa bổ ích.",
        "Học thêm tràn lan, ngoài giờ các cháu không còn thời gian vui chơi.",
    ], {}, ["Giáo dục", "Phụ huynh", "Tuyển sinh", "Học phí", "Ý kiến"]),
    ("ham_prices", "ham", "prices", [
        "Giá {mathang} tăng liên tục, lương thì không tăng, người lao động khó khăn lắm.",
        "{thoigian} đi chợ thấy giá {mathang} tăng gần gấp đôi, không biết bao giờ mới hạ.",
        "Đề nghị kiểm soát giá {mathang} dịp Tết, tránh tình trạng găm hàng đẩy giá.",
        "Giá {mathang} giảm {so}% là tin vui cho người tiêu dùng, mong duy trì lâu dài.",
        "Hóa đơn tiền điện tháng này nhà tôi tăng gấp rưỡi dù dùng như mọi tháng, cần giải thích rõ.",
    ], {}, ["Giá cả", "Thị trường", "Bức xúc", "Ý kiến"]),
    ("ham_housing", "ham", "prices", [
        "Giá chung cư ở {quan} lên {so}0 triệu một mét vuông, người trẻ làm sao mua nổi nhà.",
        "Nhà ở xã hội thủ tục quá phức tạp, nộp hồ sơ mấy lần vẫn bị trả về.",
        "Đất đấu giá ở ngoại thành bị thổi giá lên trời rồi bỏ cọc, cần xử lý nghiêm.",
        "Thuê trọ ở {quan} giờ cũng {so} triệu một tháng cho phòng 15 mét vuông.",
    ], {}, ["Bất động sản", "Nhà ở", "Giá nhà", "Góp ý"]),
    ("ham_culture", "ham", "culture", [
        "{vanhoa} năm nay tổ chức đẹp, sạch sẽ, không còn cảnh chen lấn như trước.",
        "Cuối tuần đưa con đi {vanhoa}, các cháu rất thích. Mong thành phố duy trì.",
        "Nên có thêm thuyết minh tiếng Anh ở {vanhoa} để khách nước ngoài hiểu hơn.",
        "Giữ gìn di sản như {vanhoa} là việc cần làm, cảm ơn những người tâm huyết.",
        "Vé vào {vanhoa} tăng lên {so}0 nghìn, hơi cao với học sinh sinh viên.",
    ], {}, ["Văn hóa", "Du lịch", "Lễ hội", "Cảm nhận"]),
    ("ham_sport", "ham", "sport", [
        "{doibong} đá quá hay, {cauthu} xứng đáng cầu thủ xuất sắc nhất trận.",
        "Hàng thủ {doibong} mắc lỗi quá nhiều, HLV cần điều chỉnh chiến thuật.",
        "Chúc mừng {doibong}! Tự hào quá, {cauthu} ghi bàn đẹp như mơ.",
        "Sân {so} tiếp tục xuống cấp, mặt cỏ như ruộng, sao đá được bóng đẹp.",
        "Trọng tài trận tối qua bắt quá tệ, bỏ qua quả penalty rõ ràng cho {doibong}.",
        "Mong {cauthu} sớm bình phục chấn thương để trở lại cùng {doibong}.",
    ], {}, ["Bóng đá", "Thể thao", "Cổ vũ", "Nhận xét trận đấu", "{doibong}"]),
    ("ham_public_services", "ham", "public_services", [
        "Nước sạch ở {phuong} mấy hôm nay có mùi clo nặng, đề nghị công ty nước kiểm tra.",
        "Khu tôi ở {phuong} mất điện {so} tiếng không báo trước, đồ trong tủ lạnh hỏng hết.",
        "Thu gom rác ở {quan} giờ đúng giờ hơn, cảm ơn công nhân môi trường vất vả.",
        "Đề nghị lắp thêm đèn chiếu sáng ở ngõ {so} {duong}, tối đi rất nguy hiểm.",
        "Công viên {quan} mới cải tạo đẹp quá, có chỗ cho trẻ con chơi và người già tập thể dục.",
    ], {}, ["Dịch vụ công", "Điện nước", "Phản ánh", "Cảm ơn"]),
    ("ham_short", "ham", "short_reaction", [
        "Đồng ý!", "Quá bức xúc.", "Hay quá", "Cảm ơn tòa soạn.", "Chuẩn luôn", "Ủng hộ bài viết.",
        "Thật đáng buồn.", "Phải xử lý nghiêm!", "Đọc mà thương quá", "Tin vui cho người dân",
        "Sao lâu vậy?", "Mong là sớm có kết quả", "Xin cảm ơn.", "Quá hay, tuyệt vời",
        "Rất đúng ạ", "Thế này thì chịu rồi", "Like mạnh", "+1", "Hoan nghênh",
    ], {}, ["Ý kiến", "Đồng tình", "Bình luận", "Cảm nghĩ", "..."]),
    ("ham_long_opinion", "ham", "long_opinion", [
        "Tôi đã sống ở {quan} hơn {so} năm. Trước đây khu này yên tĩnh, cây xanh nhiều. "
        "Nay nhà cao tầng mọc lên khắp nơi nhưng đường vẫn nhỏ như cũ, trường học và bệnh viện không tăng "
        "tương ứng. Mỗi sáng đưa con đi học qua {duong} mất gần một tiếng. Tôi mong thành phố khi cấp phép "
        "dự án phải tính đến hạ tầng đi kèm, chứ không thể để người dân gánh chịu mãi như thế này.",
        "Đọc bài tôi thấy rất đúng. Chuyện {vande} ở {phuong} không phải mới, năm nào cũng phản ánh, "
        "năm nào cũng hứa. Tôi nghĩ cần công khai trách nhiệm của từng đơn vị, có thời hạn cụ thể và "
        "người dân được giám sát. Nếu làm được như vậy thì chắc chắn sẽ chuyển biến.\n\nXin cảm ơn tòa soạn.",
        "Về vấn đề giá {mathang}, tôi xin góp ý mấy điểm. Thứ nhất, cần minh bạch cách tính giá. "
        "Thứ hai, hỗ trợ hộ nghèo và người thu nhập thấp. Thứ ba, xử lý nghiêm đầu cơ, găm hàng. "
        "Có như vậy người dân mới yên tâm.",
        "Con tôi năm nay vào lớp 1 ở {truong}. Phải nói là cô giáo rất yêu trẻ, nhưng cơ sở vật chất còn "
        "thiếu: phòng học nóng, nhà vệ sinh xuống cấp, sân chơi nhỏ. Mong quận {quan} quan tâm đầu tư, "
        "vì các cháu là tương lai của đất nước.",
    ], {}, ["Góp ý", "Tâm tư của người dân", "Ý kiến bạn đọc", "Kiến nghị"]),
    ("ham_question", "ham", "question", [
        "Cho tôi hỏi thủ tục {dichvu} cần giấy tờ gì và nộp ở đâu ạ?",
        "Xin hỏi tòa soạn, quy định mới về {dichvu} áp dụng từ ngày nào?",
        "Bài viết có nói {mathang} tăng giá, vậy hộ nghèo có được hỗ trợ không?",
        "Ai biết lịch cắt điện khu {phuong} tuần này không ạ?",
        "Tuyến đường {duong} bao giờ thì làm xong vậy mọi người?",
    ], {}, ["Hỏi", "Xin hỏi", "Thắc mắc", "Nhờ giải đáp"]),
    # Hard ham: numbers, links, money and even gambling named in a reader's complaint.
    ("ham_hotline_complaint", "ham", "hard_ham", [
        "Tôi gọi đường dây nóng 1900 {so}{so} mấy lần mà không ai nghe máy, phản ánh kiểu gì bây giờ?",
        "Số điện thoại tiếp dân của phường ghi trên bảng là 024 3{so}{so} {so}{so}{so}, gọi toàn báo bận.",
        "Tra cứu trên trang dichvucong.gov.vn thấy hồ sơ của tôi vẫn ở trạng thái chờ xử lý từ {thoigian}.",
        "Đề nghị báo đăng kèm số hotline 1022 của thành phố để người dân tiện phản ánh.",
    ], {}, ["Đường dây nóng", "Phản ánh", "Hỏi", "Góp ý"]),
    ("ham_against_gambling", "ham", "hard_ham", [
        "Cá độ bóng đá qua mạng đang tràn lan trong sinh viên, nhiều em nợ nần bỏ học. Cần xử lý nghiêm các đường dây.",
        "Quảng cáo nhà cái trá hình trên mạng xã hội nhiều quá, cơ quan chức năng chặn giúp.",
        "Hàng xóm tôi vay app tín dụng đen, bị khủng bố điện thoại cả nhà. Mong công an vào cuộc.",
        "Lừa đảo việc nhẹ lương cao qua mạng nhiều quá, mọi người cẩn thận, đừng chuyển tiền cho ai.",
        "Tin nhắn mời đầu tư tiền ảo lãi cao toàn là lừa đảo, các cụ nhà mình cần được cảnh báo.",
    ], {}, ["Cảnh báo", "Bức xúc", "Đề nghị xử lý", "Lừa đảo"]),
    ("ham_prices_numbers", "ham", "hard_ham", [
        "Giá xăng RON95 hôm nay {so}.{so}00 đồng một lít, tăng {so}00 đồng so với kỳ trước.",
        "Lương hưu của tôi {so} triệu, tiền điện nước đã hết {so}0%, khó khăn quá.",
        "Năm 2024 học phí tăng từ {so}00 nghìn lên {so} triệu một tháng, phụ huynh sao kham nổi.",
        "Từ 1/7 lương cơ sở tăng lên 2,34 triệu, mong giá cả đừng tăng theo.",
    ], {}, ["Giá cả", "Lương", "Học phí", "Ý kiến"]),
    ("ham_english_mix", "ham", "mixed_language", [
        "Concert ở Mỹ Đình tối qua quá đỉnh, fan Việt Nam cổ vũ cực nhiệt tình. Hope to see them again!",
        "Ứng dụng VNeID update bản mới bị lỗi login, ai gặp giống mình không?",
        "Thành phố nên làm thêm bike lane cho xe đạp, như nhiều nước đã làm rất hiệu quả.",
        "Team {doibong} hôm nay chơi không có fighting spirit gì cả, thất vọng.",
    ], {}, ["Ý kiến", "Feedback", "Cảm nhận"]),
    ("ham_thanks_reporter", "ham", "short_reaction", [
        "Cảm ơn phóng viên đã phản ánh kịp thời, mong bài viết đến được cơ quan có thẩm quyền.",
        "Bài báo rất hay và khách quan, cảm ơn tác giả.",
        "Mong báo tiếp tục theo dõi vụ việc ở {phuong} và thông tin đến bạn đọc.",
        "Tòa soạn viết đúng quá, nói hộ được nỗi lòng của người dân {quan}.",
    ], {}, ["Cảm ơn", "Bạn đọc", "Ý kiến"]),
    ("ham_weather", "ham", "weather", [
        "Trời {thoigian} rét đậm, mong các trường cho học sinh nghỉ khi nhiệt độ dưới 10 độ.",
        "Bão số {so} sắp vào, mọi người nhớ chằng chống nhà cửa, dự trữ nước uống nhé.",
        "Nắng nóng 40 độ mà khu {phuong} cắt điện luân phiên, người già và trẻ nhỏ khổ quá.",
        "Mưa lớn kéo dài, đường {duong} ngập sâu nửa bánh xe, xe chết máy hàng loạt.",
    ], {}, ["Thời tiết", "Cảnh báo", "Phản ánh"]),
    ("ham_elderly_register", "ham", "long_opinion", [
        "Tôi năm nay đã ngoài 70 tuổi, đọc báo hằng ngày. Xin có đôi lời góp ý: cần quan tâm hơn "
        "đến người cao tuổi sống một mình ở {phuong}, nhiều cụ ốm đau không ai hay biết.",
        "Kính gửi lãnh đạo quận {quan}. Tôi là cựu chiến binh, sống tại {phuong}. Tình trạng {vande} "
        "ở khu tôi đã kéo dài, kính mong các đồng chí quan tâm chỉ đạo giải quyết. Trân trọng.",
    ], {}, ["Kính gửi lãnh đạo", "Góp ý của người cao tuổi", "Kiến nghị"]),
    ("ham_local_business_praise", "ham", "hard_ham", [
        "Quán phở đầu ngõ {duong} được báo đưa tin là đúng rồi, bao năm vẫn ngon và giá phải chăng.",
        "Chợ {phuong} mới xây lại sạch đẹp, tiểu thương bán hàng niêm yết giá rõ ràng.",
        "Mua vé tàu online trên app giờ nhanh thật, thanh toán qua ngân hàng chỉ mất 1 phút.",
    ], {}, ["Cảm nhận", "Khen", "Ý kiến"]),
]

SITE = ["kubet", "fb88", "w88", "188bet", "hi88", "789bet", "new88", "jun88", "okvip", "shbet", "f8bet",
        "mb66", "8xbet", "vn88", "sunwin", "go88", "b52club", "rikvip", "win79", "nohu90"]
TLD = ["com", "vip", "net", "club", "xyz", "top", "bet", "win", "app", "io", "me", "online", "site"]
BRAND = ["Vay Nhanh 24h", "Tài Chính Việt", "Nhà cái uy tín", "Shop Mẹ Bắp", "Hàng Nhật Nội Địa",
         "SEO Master VN", "Kiếm tiền online", "CSKH", "Admin", "Tuyển dụng gấp", "Đầu tư 4.0", "Sim số đẹp",
         "Thẩm mỹ viện Hàn Quốc", "Giảm cân an toàn", "Cho vay", "Đại lý cấp 1", "Thu mua tận nơi"]


def site(rng: random.Random) -> str:
    return f"{rng.choice(SITE)}{rng.choice(['', '', '1', '68', '88', 'vn', '-vn', 'pro'])}.{rng.choice(TLD)}"


def phone(rng: random.Random) -> str:
    prefix = rng.choice(["09", "08", "03", "07", "05"])
    digits = prefix + "".join(str(rng.randrange(10)) for _ in range(8))
    style = rng.random()
    if style < 0.35:
        return digits
    if style < 0.55:
        return f"{digits[:4]}.{digits[4:7]}.{digits[7:]}"
    if style < 0.7:
        return f"{digits[:4]} {digits[4:7]} {digits[7:]}"
    if style < 0.8:
        return "+84 " + digits[1:]
    if style < 0.9:
        return " ".join(digits)
    return f"{digits[:4]}-{digits[4:]}"


def link(rng: random.Random) -> str:
    s = site(rng)
    style = rng.random()
    if style < 0.3:
        return f"https://{s}"
    if style < 0.45:
        return f"https://{s}/{rng.choice(['dangky', 'khuyenmai', 'ref?id=', 'vip', 'nap-tien'])}{rng.randrange(99)}"
    if style < 0.6:
        return s
    if style < 0.7:
        return f"www.{s}"
    if style < 0.82:
        return " ".join(s)  # "k u b e t . c o m"
    if style < 0.9:
        return s.replace(".", " chấm ")
    if style < 0.95:
        return s.replace(".", " (dot) ")
    return f"bit.ly/{rng.choice(['3xK9', 'vay24h', 'nh0-hu', 'q8Zt'])}"


def zalo(rng: random.Random) -> str:
    return rng.choice(["Zalo", "zalo", "ZALO", "Za.lo", "Zl", "Tele", "Telegram", "Whatsapp", "Viber"])


def spam_name(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.35:
        return person(rng)
    if r < 0.6:
        return rng.choice(BRAND)
    if r < 0.75:
        return f"{strip_tones(rng.choice(TEN)).lower()}{rng.randrange(10, 9999)}"
    if r < 0.88:
        return site(rng)
    return f"{rng.choice(TEN)} {phone(rng)}"


SPAM: list[Family] = [
    ("spam_bet_nhacai", "spam", "betting", [
        "Nhà cái uy tín số 1 Việt Nam, nạp đầu tặng {pct}%, rút tiền trong 5 phút. Vào ngay {link}",
        "Cá cược bóng đá tỷ lệ kèo cao nhất, hoàn trả {pct}% mỗi ngày tại {link}",
        "Đăng ký {site} nhận ngay {money} trải nghiệm miễn phí, cược thể thao - casino - nổ hũ.",
        "Soi kèo {doibong} chuẩn 100%, theo kèo là thắng. Liên hệ {zalo} {phone}",
    ], {"pct": ["50", "100", "150", "200"], "money": ["88k", "100K", "58.000đ", "188k"]},
     ["Nhà cái uy tín", "Kèo thơm", "Khuyến mãi cực lớn", "Góp ý", "Cá cược"]),
    ("spam_bet_lode", "spam", "betting", [
        "Soi cầu lô đề miền Bắc chính xác, bạch thủ lô hôm nay, ăn chắc 99%. Vào {link}",
        "Chốt số đề đẹp hôm nay, anh em vào nhóm {zalo} {phone} nhận số miễn phí.",
        "Lô đề online 1 ăn 99, trả thưởng nhanh nhất, uy tín tại {site}",
        "Ae nào muốn gỡ lại thì inbox mình, cầu lô chuẩn không cần chỉnh {phone}",
    ], {}, ["Soi cầu", "Số đẹp hôm nay", "Chia sẻ", "Ý kiến"]),
    ("spam_casino_nohu", "spam", "casino", [
        "Nổ hũ cực dễ, quay là trúng, jackpot hàng trăm triệu. Chơi ngay tại {link}",
        "Game bài đổi thưởng uy tín, tài xỉu minh bạch, nạp rút 1-1. Tải app {site}",
        "Casino trực tuyến với dealer xinh đẹp, baccarat, rồng hổ. Tặng {money} cho tân thủ: {link}",
        "Mình vừa nổ hũ được 45 triệu ở {site}, anh em thử vận may đi!",
    ], {"money": ["88k", "100K", "1 triệu", "50$"]}, ["Game đổi thưởng", "Nổ hũ", "Chia sẻ", "Vui"]),
    ("spam_loan_fast", "spam", "loan", [
        "Vay tiền nhanh chỉ cần CCCD, không thẩm định, giải ngân trong 30 phút. Liên hệ {zalo} {phone}",
        "Hỗ trợ vay vốn lãi suất thấp {rate}%/tháng, nợ xấu vẫn vay được. Gọi ngay {phone}",
        "Cần tiền gấp? Vay online đến {amount} triệu, duyệt hồ sơ tự động tại {link}",
        "Cho vay tín chấp, bốc bát họ, góp ngày, không cần gặp mặt. {zalo}: {phone}",
    ], {"rate": ["0.8", "1", "1,2", "0,5"], "amount": ["10", "20", "50", "100"]},
     ["Vay tiền nhanh", "Hỗ trợ tài chính", "Cần tiền gấp?", "Góp ý"]),
    ("spam_loan_card", "spam", "loan", [
        "Đáo hạn thẻ tín dụng, rút tiền mặt từ thẻ phí chỉ {rate}%, có mặt tận nơi. LH {phone}",
        "Làm thẻ tín dụng hạn mức cao, không chứng minh thu nhập, duyệt 100%. Inbox {zalo} {phone}",
        "Giải ngân ngay {amount} triệu cho khách hàng mới, không cần giấy tờ. Đăng ký: {link}",
    ], {"rate": ["1.2", "1,5", "0.9"], "amount": ["5", "15", "30"]}, ["Dịch vụ thẻ", "Tài chính", "Hỗ trợ"]),
    ("spam_sales_goods", "spam", "sales", [
        "Thanh lý {goods} giá rẻ chỉ {price}, free ship toàn quốc. Đặt hàng qua {zalo} {phone}",
        "Xả kho {goods} giảm 70%, số lượng có hạn. Xem ngay tại {link}",
        "Chuyên sỉ lẻ {goods} chính hãng, cam kết chất lượng, bao đổi trả. Hotline {phone}",
        "SALE SỐC cuối tuần!!! {goods} chỉ còn {price}, nhanh tay kẻo lỡ!!!",
    ], {"goods": ["iPhone 15 Pro Max", "đồng hồ Rolex", "túi xách Gucci", "nồi chiên không dầu",
                  "mỹ phẩm Hàn Quốc", "giày Nike", "máy lọc không khí", "điều hòa Daikin"],
        "price": ["199k", "1.990.000đ", "299K", "49$", "3tr5"]},
     ["Khuyến mãi", "Giảm giá sốc", "Thanh lý", "Góp ý", "SALE"]),
    ("spam_sales_health", "spam", "sales", [
        "Giảm {kg}kg trong 1 tháng với {product}, không cần ăn kiêng. Tư vấn miễn phí {phone}",
        "{product} chữa khỏi dứt điểm tiểu đường, huyết áp, xương khớp. Đặt mua tại {link}",
        "Thuốc tăng chiều cao {product} nhập khẩu Mỹ, cao thêm {kg}cm sau 3 tháng. {zalo} {phone}",
        "Bác sĩ khuyên dùng {product}, hiệu quả sau 7 ngày, hoàn tiền nếu không hiệu quả!",
    ], {"kg": ["5", "7", "10", "12"], "product": ["viên uống Slim X", "trà thảo mộc Hoàng Gia",
                                                  "đông trùng hạ thảo Tây Tạng", "cao hồng sâm 6 năm"]},
     ["Sức khỏe vàng", "Bí quyết", "Chia sẻ", "Tư vấn"]),
    ("spam_sales_sim", "spam", "sales", [
        "Bán sim số đẹp tứ quý, lộc phát, thần tài giá rẻ. Xem kho sim tại {link}",
        "Sim 4G data khủng 6GB/ngày chỉ {price}/tháng, giao tận nơi. Gọi {phone}",
        "Thu mua đồ cũ tận nơi giá cao: tủ lạnh, điều hòa, máy giặt. Gọi ngay {phone}",
    ], {"price": ["50k", "70K", "90.000đ"]}, ["Sim số đẹp", "Dịch vụ", "Thu mua", "Hỗ trợ"]),
    ("spam_seo_links", "spam", "seo", [
        "Bài viết rất hay, tham khảo thêm tại {link} nhé mọi người.",
        "Xem thêm các mẫu {goods} đẹp nhất 2025 tại {link}",
        "Dịch vụ SEO từ khóa lên top Google, backlink chất lượng, báo giá tại {link}",
        "Cảm ơn admin đã chia sẻ, mình có viết bài tương tự ở đây: {link}",
        "Thiết kế website chuẩn SEO giá rẻ, bàn giao trong 7 ngày. {link}",
    ], {"goods": ["sofa", "nội thất chung cư", "váy cưới", "biệt thự", "cửa nhôm"]},
     ["Tham khảo", "Cảm ơn", "Hay quá", "Dịch vụ SEO", "Góp ý"]),
    ("spam_contact_zalo", "spam", "contact", [
        "Ai cần tư vấn thì kết bạn {zalo} mình nhé: {phone}",
        "Inbox mình qua {zalo} {phone} để nhận tài liệu miễn phí.",
        "Em nhận làm hồ sơ, giấy tờ nhanh, không cần chờ đợi. Liên hệ {zalo} {phone}",
        "Cần gì cứ nhắn {zalo} {phone}, hỗ trợ 24/7 nhiệt tình!",
    ], {}, ["Hỗ trợ", "Tư vấn miễn phí", "Liên hệ", "Góp ý"]),
    ("spam_crypto", "spam", "investment_scam", [
        "Đầu tư USDT lãi {pct}%/ngày, rút gốc bất cứ lúc nào, an toàn tuyệt đối. Tham gia: {link}",
        "Sàn {coin} mới lên sàn, x100 trong tuần. Nhóm kín {zalo} {phone}",
        "Kiếm 5 triệu mỗi ngày với bot trade Bitcoin tự động, không cần kinh nghiệm. {link}",
        "Chuyên gia phân tích forex, cam kết lợi nhuận {pct}% mỗi tháng, vào nhóm {zalo} để nhận tín hiệu.",
    ], {"pct": ["2", "3", "5", "30"], "coin": ["BNB", "SHIB", "PEPE", "VNC coin", "MetaX"]},
     ["Cơ hội đầu tư", "Kiếm tiền", "Tài chính 4.0", "Góp ý"]),
    ("spam_investment_land", "spam", "investment_scam", [
        "Đất nền sổ đỏ giá đầu tư chỉ {amount} triệu/m2, cam kết mua lại lãi {pct}%. Xem ngay {link}",
        "Góp vốn dự án nông nghiệp công nghệ cao, lãi {pct}%/tháng, đã có hàng nghìn nhà đầu tư. {phone}",
        "Cơ hội sở hữu căn hộ chỉ với 300 triệu, chiết khấu {pct}%, liên hệ {zalo} {phone}",
    ], {"amount": ["8", "12", "15"], "pct": ["10", "15", "24"]}, ["Đầu tư", "Bất động sản", "Cơ hội"]),
    ("spam_job", "spam", "job_scam", [
        "Tuyển CTV làm online tại nhà, việc nhẹ lương cao {money}/ngày, không cần kinh nghiệm. {zalo} {phone}",
        "Tuyển nhân viên chốt đơn, like video TikTok nhận tiền ngay, thu nhập {money}/ngày. Inbox {link}",
        "Việc làm thêm cho sinh viên, mẹ bỉm sữa, chỉ cần điện thoại, {money} mỗi ngày!!!",
        "Cần gấp 20 bạn nhập liệu tại nhà, trả lương cuối ngày. Đăng ký qua {zalo}: {phone}",
    ], {"money": ["300k", "500K", "800.000đ", "1tr", "1-2 triệu"]}, ["Tuyển dụng", "Việc làm thêm", "Tuyển gấp"]),
    ("spam_adult", "spam", "adult", [
        "Em gái xinh, nóng bỏng, chat riêng tư 18+ miễn phí tại {link}",
        "Phim người lớn không che, xem miễn phí không quảng cáo: {link}",
        "Dịch vụ massage thư giãn tận nơi, nhân viên trẻ đẹp chiều khách. {zalo} {phone}",
        "Tìm bạn tình một đêm, gặp gỡ kín đáo. Vào {link} để làm quen",
    ], {}, ["Làm quen", "Giải trí", "Thư giãn", "Góp ý"]),
    ("spam_mixed_en", "spam", "mixed_language", [
        "Make money online {money}/day, làm tại nhà, no experience needed. Join now: {link}",
        "Best betting site in Vietnam, bonus 100% first deposit, rút tiền nhanh: {link}",
        "Hot girl live show 18+, free sign up, chat ngay: {link}",
        "Crypto signal VIP group, profit guaranteed, inbox {zalo} {phone} to join",
        "Click here to claim your FREE iPhone, chỉ hôm nay: {link}",
    ], {"money": ["$100", "$300", "50 USD"]}, ["Opportunity", "Hot", "Kiếm tiền", "FREE"]),
    ("spam_disguised_opinion", "spam", "disguised", [
        "Bài viết rất hay. Nhân tiện ai cần vay tiền gấp thì liên hệ {zalo} {phone} nhé.",
        "Đồng ý với tác giả. Mà mọi người ơi, mình mới kiếm được {money} nhờ {site}, thử xem.",
        "Đường {duong} tắc quá, ngồi chờ thì vào {link} chơi vài ván giải trí đi anh em.",
        "Giá cả tăng, lương không đủ sống? Làm thêm online {money}/ngày, inbox {zalo}.",
    ], {"money": ["5 triệu", "2tr", "500k"]}, ["Ý kiến", "Đồng tình", "Góp ý", "Chia sẻ"]),
    ("spam_fake_prize", "spam", "phishing", [
        "Chúc mừng bạn đã trúng thưởng xe SH, vui lòng truy cập {link} để nhận quà trước 24h.",
        "Tài khoản ngân hàng của bạn bị khóa, xác minh ngay tại {link} để tránh bị phạt.",
        "Bạn được hoàn {money} tiền bảo hiểm, điền thông tin tại {link}",
        "Nhận quà tri ân khách hàng, chỉ cần nhập OTP tại {link}",
    ], {"money": ["2.500.000đ", "3 triệu", "1.800.000 VND"]}, ["Thông báo", "Trúng thưởng", "Khẩn cấp"]),
    ("spam_hidden_link", "spam", "obfuscated", [
        "Vào w w w . {spaced} . c o m nhận ngay code tân thủ.",
        "Link: {dotted} (bỏ dấu cách) - uy tín nhất hiện nay",
        "Truy cập {chamcom} để nhận {money} miễn phí",
        "Ai cần thì vào {spaced} . v i p nhé, nạp rút nhanh",
    ], {"money": ["88k", "100k", "150k"]}, ["Chia sẻ", "Tặng code", "Góp ý", "Hay"]),
]

# ----------------------------------------------------------------------------- more varied traffic
# Added for issue 19: the first families were too uniform for real comments (a legitimate link,
# "!!!" or a price was enough to look like spam, and spam that is not an ad was not known at all).
# Written by this team; nothing here is taken from the hand-written evaluation set.
OFFICIAL = ["dichvucong.gov.vn", "chinhphu.vn", "moh.gov.vn", "moet.gov.vn", "mt.gov.vn", "csgt.vn",
            "vneid.gov.vn", "baohiemxahoi.gov.vn", "gdt.gov.vn", "thuvienphapluat.vn", "evnhanoi.vn",
            "quochoi.vn", "sotnmt.hanoi.gov.vn", "sogtvt.hanoi.gov.vn", "vbpl.vn", "nchmf.gov.vn",
            "tuyensinh.hanoi.edu.vn", "hust.edu.vn", "vnu.edu.vn", "redcross.org.vn", "vtv.vn", "vov.vn",
            "nhandan.vn", "dangcongsan.vn", "vietnamplus.vn", "congan.hanoi.gov.vn", "ubndquan.hanoi.gov.vn"]
OFFICIAL_PATH = ["", "", "/tra-cuu", "/thong-bao", "/van-ban/so-12-2025", "/hoi-dap", "/dich-vu-cong",
                 "/tin-tuc/lich-cat-dien", "/tuyen-sinh-2026", "/portal/home", "/tracuu.aspx"]


def official(rng: random.Random) -> str:
    s = rng.choice(OFFICIAL) + rng.choice(OFFICIAL_PATH)
    return rng.choice([s, s, "https://" + s, "https://www." + s, "http://" + s])


def price(rng: random.Random) -> str:
    n = rng.choice([15, 25, 35, 45, 50, 65, 80, 120, 150, 250, 350, 499, 800])
    return rng.choice([f"{n}k", f"{n}K", f"{n}.000đ", f"{n} nghìn", f"{n}.000 đồng", f"{n} ngàn",
                       f"{n // 10 or 1}tr{n % 10 or ''}", f"{n // 10 or 1} triệu", f"{n}0.000 VND"])


SLUG_A = ["nhadat", "noithat", "suadieuhoa", "thammy", "giamcan", "dulich", "vemaybay", "khoahoc", "chuyennha",
          "tuvanluat", "baohiem", "mypham", "xekhach", "dongho", "camera", "dichvu", "review", "tintuc", "giadung",
          "thietke", "inan", "taxi", "visa", "spa", "nhakhoa", "phongkham", "caythuoc", "tiengAnh"]
SLUG_B = ["24h", "pro", "vn", "online", "360", "247", "123", "plus", "xanh", "sg", "hn", "re", "top", "99"]
SEO_TLD = ["com", "vn", "com.vn", "net", "info", "xyz", "site", "online", "store", "blog", "org"]


def shop_site(rng: random.Random) -> str:
    s = f"{rng.choice(SLUG_A).lower()}{rng.choice(SLUG_B)}.{rng.choice(SEO_TLD)}"
    page = rng.choice(["gia-re", "p", "bai-viet", "lien-he"])
    return rng.choice([s, s, "https://" + s, "www." + s, f"https://{s}/{page}"])


DIGIT_WORDS = ["không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín"]


def hidden_phone(rng: random.Random) -> str:
    """A number written so word filters miss it: in words, O for 0, split by dots or emoji."""
    digits = rng.choice(["09", "08", "03", "07"]) + "".join(str(rng.randrange(10)) for _ in range(8))
    style = rng.random()
    if style < 0.2:
        return " ".join(DIGIT_WORDS[int(d)] for d in digits)
    if style < 0.35:
        return digits.replace("0", "O")
    if style < 0.5:
        return ".".join(digits[i:i + 2] for i in range(0, 10, 2))
    if style < 0.6:
        return "".join(f"{d}\ufe0f\u20e3" for d in digits)
    if style < 0.75:
        return digits[:5] + " " + " ".join(DIGIT_WORDS[int(d)] for d in digits[5:])
    if style < 0.88:
        return f"{digits[:3]}*{digits[3:6]}*{digits[6:]}"
    return f"{digits[:4]} xxx {digits[7:]} (ib lấy số đủ)"


FLOOD_BITS = ["up up up", "ủng hộ shop em", "hóng", "kéo lên cho mọi người thấy", "góc chơi game", "ahihi",
              "đọc xong rồi", "cmt dạo", "chấm", "lên top đi", "like nhé", "nhận xét dạo", "hihi 😁", "😂😂😂",
              "haha", "đẩy top", "bình luận lấy xu", "fan cứng điểm danh", "điểm danh", "123 dô"]


def flood(rng: random.Random) -> str:
    """Copy-paste floods: one line pasted again and again, a key held down, emoji walls."""
    style = rng.random()
    bit = rng.choice(FLOOD_BITS)
    if style < 0.45:
        return rng.choice([" ", "\n", " ", ", "]).join([bit] * rng.randrange(4, 12))
    if style < 0.65:
        ch = rng.choice("aáeohk!.?=")
        return bit + " " + ch * rng.randrange(12, 60)
    if style < 0.8:
        return " ".join(rng.choice(["🔥", "😂", "❤️", "👍", "💯", "🤣", "👏"]) * rng.randrange(3, 9) for _ in range(3))
    return "\n".join(rng.choice(FLOOD_BITS) for _ in range(rng.randrange(4, 9)))


# Keyboard mashes from a fixed pool: random letters would each add unseen character n-grams, and the
# model's vocabulary (and every serving worker's memory) grows with them for no gain.
MASH = ["asdf", "qwe", "hjkl", "zxcv", "dfg", "jkjk", "lol", "sdf", "ghgh", "xcxc", "vbnm", "ert", "aaa",
        "kkk", "uiop", "mnb", "ppp", "yuyu", "tyty", "fgh"]


def gibberish(rng: random.Random) -> str:
    words = ["".join(rng.choice(MASH) for _ in range(rng.randrange(1, 3))) for _ in range(rng.randrange(2, 7))]
    return " ".join(words) + rng.choice(["", "", " 123", " ...", " sdfsdf", " test"])


BRAND_KIND = ["Nha khoa", "Thẩm mỹ viện", "Spa", "Điện máy", "Nội thất", "Mỹ phẩm", "Đồ gỗ", "Gạo sạch",
              "Trà sữa", "Trung tâm tiếng Anh", "Bảo hiểm", "Du lịch", "Gara ô tô", "Xe khách", "Bất động sản",
              "Yến sào", "Thời trang", "Đồng hồ", "Kính mắt", "Luật"]
BRAND_NAME = ["Phúc Lộc Thọ", "Ánh Dương", "Hoàng Phát", "Kim Ngân", "Sao Việt", "Đại Thành", "Thiên Phú",
              "Minh Long", "Hồng Hạnh", "Tâm An", "Gia Huy", "Bảo Ngọc", "Phương Đông", "Tân Tiến", "Mộc Nhiên",
              "NewLife", "GoldStar", "SmileCare", "BeautyPlus", "HomeLux"]
SLOGAN = ["uy tín tạo nên thương hiệu", "chất lượng hàng đầu", "đồng hành cùng mọi nhà", "giá tốt nhất thị trường",
          "số 1 miền Bắc", "hơn 10 năm kinh nghiệm", "khách hàng là thượng đế", "tận tâm - chuyên nghiệp",
          "đẹp chuẩn từng chi tiết", "ưu đãi tháng này", "hàng chính hãng 100%", "phục vụ 24/7"]

HAM_SLOTS: dict[str, list[str]] = {
    "khen": ["tuyệt vời", "quá đỉnh", "đẹp xuất sắc", "xịn thật sự", "đáng đồng tiền", "ngon lành",
             "ổn áp", "mê luôn", "ấn tượng lắm", "quá chất"],
    "cho": ["công viên mới", "cây cầu mới", "tuyến phố đi bộ", "thư viện quận", "bể bơi công cộng",
            "khu vui chơi cho trẻ", "chợ đêm", "con đường ven hồ", "trạm xe đạp công cộng", "nhà văn hóa"],
    "bucxuc": ["VÔ LÝ", "QUÁ ĐÁNG", "KHÔNG THỂ CHẤP NHẬN ĐƯỢC", "LÀM ĂN KIỂU GÌ VẬY", "THẬT LÀ HẾT CHỊU NỔI",
               "XẤU HỔ QUÁ", "BỨC XÚC QUÁ"],
    "trich": ["giá nhà đã vượt xa thu nhập của người làm công ăn lương",
              "nhiều tuyến phố vẫn chưa có vỉa hè cho người đi bộ",
              "tỷ lệ học sinh đạt điểm giỏi tăng nhưng áp lực học thêm không giảm",
              "việc chậm trễ là do vướng mặt bằng",
              "thành phố sẽ thí điểm thu phí vào nội đô",
              "người dân có thể nộp hồ sơ hoàn toàn trực tuyến",
              "đến cuối năm sẽ hoàn thành 80% khối lượng công việc",
              "không có trường hợp nào bị xử lý kỷ luật"],
    "kenh": ["tổng đài của điện lực", "đường dây nóng của sở", "fanpage của phường", "zalo OA của quận",
             "ứng dụng iHanoi", "hòm thư góp ý của tòa soạn", "tổ trưởng dân phố", "bộ phận một cửa",
             "ban quản lý tòa nhà", "chăm sóc khách hàng của nhà mạng"],
    "luadao": ["gọi tự xưng là cán bộ thuế", "nhắn tin báo trúng thưởng", "gửi đường link cài ứng dụng lạ",
               "đòi mã OTP để hoàn tiền", "dán mã QR giả ở quầy gửi xe", "mời vào nhóm zalo đầu tư",
               "giả làm người quen vay tiền qua messenger", "rao việc nhẹ lương cao trên mạng"],
    "mon": ["bát phở", "cốc trà đá", "suất cơm văn phòng", "ổ bánh mì", "cân cam", "vé xem phim",
            "bó rau muống", "lít xăng", "tháng tiền điện", "buổi học thêm", "lượt gửi xe máy"],
}

HAM += [
    ("ham_enthusiastic", "ham", "enthusiastic", [
        "{cho} ở {quan} {khen}!!! Cuối tuần nào nhà mình cũng ra đó 😍",
        "Quá tuyệt vời luôn ạ!!! Cảm ơn thành phố đã làm {cho} cho dân 👏👏👏",
        "Đỉnh của chóp 🔥🔥 {doibong} hôm nay đá {khen}!!!",
        "Yêu Hà Nội quá đi mất ❤️❤️❤️ sáng nay đi dạo ven hồ mát rượi",
        "TUYỆT VỜI!!! Chờ mãi cuối cùng {cho} cũng mở cửa rồi",
        "hay quá trời luôn, đọc xong muốn đi {vanhoa} ngay 🥰",
    ], HAM_SLOTS, ["Tuyệt vời", "Quá đỉnh!!!", "Vui quá", "Khen", "❤️"]),
    ("ham_angry", "ham", "angry", [
        "{bucxuc}!!! {vande} ở {phuong} kéo dài cả năm trời mà không ai chịu trách nhiệm???",
        "Lại tăng giá {mathang} nữa à??? Dân đen sống kiểu gì đây hả trời!!!",
        "Đọc mà sôi máu. {bucxuc}. Đề nghị cách chức ngay những người liên quan!!!",
        "Cứ mưa là {duong} thành sông, {bucxuc}!!! Tiền chống ngập đi đâu hết rồi???",
        "trả lời kiểu này thì dân còn biết tin vào ai nữa. thất vọng toàn tập",
        "TÔI ĐÃ PHẢN ÁNH 3 LẦN RỒI MÀ VẪN THẾ. {bucxuc}!!!",
    ], HAM_SLOTS, ["BỨC XÚC", "Vô lý!!!", "Phẫn nộ", "Thất vọng", "???"]),
    ("ham_price_talk", "ham", "prices", [
        "{mon} giờ {price} rồi, mấy năm trước chỉ bằng một nửa.",
        "Nhà tôi tháng này tiền điện {price}, nước {price}, chưa kể tiền ăn. Lương hai vợ chồng không đủ.",
        "Ở quê tôi {mon} có {price} thôi, lên {quan} đắt gấp đôi.",
        "Học phí kỳ này {price}, cộng tiền sách vở, đồng phục là hết cả tháng lương.",
        "Mua {mon} hôm qua {price}, hôm nay lên {price}, chóng mặt thật.",
        "Gửi xe ở bệnh viện {benhvien} thu {price} một lượt, có đúng quy định không vậy?",
    ], HAM_SLOTS, ["Giá cả", "Đắt quá", "Chi tiêu", "Góp ý"]),
    ("ham_contact_talk", "ham", "contact_talk", [
        "Tôi đã gọi {kenh} từ tuần trước, họ hẹn cử người xuống nhưng chưa thấy đâu.",
        "Mọi người cứ phản ánh qua {kenh}, tôi gửi ảnh qua đó thì hai hôm sau đã có người xử lý.",
        "Nhắn tin cho {kenh} thì chỉ nhận được câu trả lời tự động, không giải quyết được gì.",
        "Ai ở {phuong} có số của {kenh} không ạ? Nhà tôi {vande} mấy hôm nay.",
        "Liên hệ {kenh} mãi không được, cuối cùng phải lên tận nơi mới xong thủ tục {dichvu}.",
        "Báo có thể cho xin kênh liên hệ của {kenh} không, tôi muốn gửi thêm tài liệu.",
    ], HAM_SLOTS, ["Liên hệ", "Hỏi", "Phản ánh", "Kinh nghiệm"]),
    ("ham_official_link", "ham", "official_link", [
        "Mọi người tra cứu trên {official} là thấy ngay, không cần ra phường.",
        "Văn bản gốc đây: {official} , đọc kỹ điều 5 sẽ thấy bài báo nói đúng.",
        "Tôi đã nộp hồ sơ {dichvu} qua {official} , 3 ngày là có kết quả!!!",
        "Lịch cắt điện khu {phuong} có đăng trên {official} đấy ạ.",
        "Theo thông báo trên {official} thì năm nay điểm chuẩn dự kiến tăng. Các bạn xem kỹ nhé.",
        "Ai cần mẫu đơn thì tải ở {official} , mục biểu mẫu.",
        "Nguồn: {official}",
        "Sao không đưa link {official} vào bài cho bạn đọc tiện tra cứu?",
    ], HAM_SLOTS, ["Tra cứu", "Thông tin thêm", "Nguồn", "Hướng dẫn", "Góp ý"]),
    ("ham_quote", "ham", "quote", [
        "\"{trich}\" - câu này trong bài đúng quá.",
        "Bài viết có đoạn: «{trich}». Vậy ai chịu trách nhiệm?",
        "Trích: {trich}. Nói thì dễ, làm mới khó.",
        "Tôi không đồng ý với ý \"{trich}\", thực tế ở {quan} khác hẳn.",
        "> {trich}\nChuẩn, tôi thấy y như vậy ở khu {phuong}.",
    ], HAM_SLOTS, ["Ý kiến", "Trích bài", "Phản biện", "Đồng ý"]),
    ("ham_teen_native", "ham", "teen_native", [
        "tr oi đường {duong} tắc wá, đi hok nổi lun 😭",
        "ad ơi cho e hỏi năm nay thi vào {truong} lấy bn điểm v ạ",
        "nhà e ở {phuong} cx bị {vande} mấy hôm nay r, chán ghê",
        "đọc mà thấy thương mấy cô chú lao công quá, trời rét z mà vẫn đi quét đường",
        "hqua e đi {vanhoa} đông xỉu, nma vui lắm mn ạ",
        "{doibong} đá j kì z, thua đau qá 😤",
        "ủa rồi bh mới sửa đường hả, đợi cả năm trời",
    ], HAM_SLOTS, ["hoi xiu", "Góp ý", "chán", "ý kiến", "hqua"]),
    ("ham_plain_ascii", "ham", "no_diacritics_native", [
        "Toi o {phuong}, sang nao cung tac duong {duong}. Mong thanh pho som co giai phap.",
        "Bai viet rat hay, cam on tac gia. Gia {mathang} tang qua nguoi dan kho lam.",
        "Cho toi hoi thu tuc {dichvu} bay gio lam online duoc chua a?",
        "Con toi hoc {truong}, thay co rat nhiet tinh. Cam on nha truong.",
        "Mua to la ngap, nam nao cung the. Chan qua roi.",
        "Sorry may khong go duoc tieng Viet. Toi dong y voi bai bao, can xu ly nghiem.",
    ], HAM_SLOTS, ["Y kien", "Gop y", "Hoi", "Cam on"]),
    ("ham_warning_scam", "ham", "warning", [
        "Cảnh báo mọi người: có kẻ {luadao}, bố tôi suýt mất tiền. Tuyệt đối đừng làm theo.",
        "Hôm qua nhà tôi gặp người {luadao}. Ai gặp thì báo ngay công an phường nhé.",
        "Các bác lớn tuổi hay bị lừa vì bọn chúng {luadao}. Con cháu nhớ dặn ông bà.",
        "Đừng bao giờ đưa OTP cho ai, ngân hàng không bao giờ hỏi mã đó. Bọn lừa đảo {luadao}.",
        "Bài viết rất cần thiết. Bạn tôi vì tin bọn {luadao} mà mất trắng 200 triệu.",
    ], HAM_SLOTS, ["Cảnh giác", "Cảnh báo lừa đảo", "Chia sẻ", "Lưu ý"]),
    ("ham_short_varied", "ham", "short_reaction", [
        "ok", "Hay", "Đúng vậy", "chuẩn", "buồn ghê", "😢", "Tội quá", "Không tin nổi", "hóng kết quả",
        "Sao lại thế nhỉ", "Nên làm từ lâu rồi", "Mong là thật", "Cảm ơn báo", "Ủng hộ 100%", "Quá tệ",
        "Thế mà cũng nói được", "Haizz", "good", "Vậy là tốt rồi", "Chia buồn cùng gia đình",
        "Ôi trời", "Chịu thật", "Đọc mà nản", "Mừng quá!", "Xứng đáng", "Rất tiếc", "Thôi xong",
        "nản", "wow", "Làm tốt lắm", "Đề nghị làm rõ", "Có lý", "Kỳ lạ thật", "Bao giờ mới xong đây", "Chúc mừng!",
    ], HAM_SLOTS, ["", "Ý kiến", "...", "Bình luận"]),
    ("ham_story_long", "ham", "long_opinion", [
        "Chuyện nhà tôi thế này: tháng trước mẹ tôi ốm phải vào {benhvien}. Chờ cả buổi sáng mới đến lượt, "
        "nhưng bác sĩ khám kỹ, giải thích dễ hiểu. Tiền thuốc bảo hiểm trả gần hết, tôi chỉ phải trả {price}. "
        "Tôi kể để mọi người thấy không phải chỗ nào cũng tệ, có chỗ làm tốt cũng nên khen.",
        "Năm ngoái tôi chuyển từ quê ra {quan} thuê trọ, giá {price} một tháng. Năm nay chủ nhà tăng thêm "
        "20%, điện nước tính giá kinh doanh. Tôi biết nhiều bạn trẻ cũng như tôi, làm cả tháng chỉ đủ "
        "tiền nhà và tiền ăn. Mong bài báo đến được những người làm chính sách nhà ở.",
        "Tôi làm nghề chạy xe ôm công nghệ {so} năm. Đường {duong} ngày nào cũng tắc, nhưng cái tôi lo hơn là "
        "các điểm đón khách không có chỗ dừng, đứng lại là bị phạt. Ý kiến của tôi là thành phố nên "
        "kẻ vạch các điểm dừng đón trả khách ở những tuyến phố đông.",
    ], HAM_SLOTS, ["Câu chuyện của tôi", "Tâm sự", "Góp ý dài", "Kinh nghiệm"]),
    ("ham_english_more", "ham", "mixed_language", [
        "Great news for {quan}! Hy vọng dự án xong đúng hạn.",
        "Totally agree với tác giả, traffic ở {duong} is a nightmare mỗi sáng.",
        "I live in {phuong} for 5 years, the noise at night is getting worse. Mong phường xử lý.",
        "So sad to read this 😢 chia buồn cùng gia đình.",
        "My kids love {cho}, cảm ơn thành phố rất nhiều!",
        "Price of {mathang} is crazy now, lương không tăng kịp.",
        "Bài viết very informative, thanks tác giả.",
        "Why so slow? Dự án {duong} làm 5 năm chưa xong.",
        "Người nước ngoài như tôi thấy Hà Nội very friendly, nhưng traffic quá đông.",
        "Just my opinion: nên ưu tiên xe buýt điện, less pollution.",
    ], HAM_SLOTS, ["Feedback", "Agree", "Ý kiến"]),
]

SPAM_SLOTS: dict[str, list[str]] = {
    "brandkind": BRAND_KIND, "brandname": BRAND_NAME, "slogan": SLOGAN,
    "offtopic": ["ai chơi liên quân không kết bạn với mình", "có ai ở đây thích nuôi mèo không",
                 "hôm nay sinh nhật mình, mọi người chúc mình một câu đi", "tìm người yêu, nam 25 tuổi cao 1m70",
                 "ai có đề thi thử môn toán cho mình xin với", "mình đang buồn, có ai nói chuyện với mình không",
                 "đăng ký kênh của mình để xem video nấu ăn nhé", "ai có nhóm học tiếng Hàn cho mình vào với",
                 "mới mua con xe mới, mọi người xem đẹp không", "có ai xem phim hôm qua chưa, hay lắm luôn",
                 "tìm bạn đi du lịch Đà Lạt tháng sau", "ai fan K-pop điểm danh nào",
                 "cho mình hỏi mua laptop tầm 15 triệu loại nào tốt",
                 "mình bị mất ví ở bến xe, ai nhặt được thì trả giúp"],
    "keyword": ["mua nhà giá rẻ", "sửa điều hòa tại nhà", "vé máy bay giá rẻ", "khóa học tiếng Anh online",
                "dịch vụ chuyển nhà trọn gói", "tư vấn luật miễn phí", "spa trị mụn", "giảm cân cấp tốc",
                "thiết kế nội thất đẹp", "camera an ninh", "tour du lịch giá rẻ", "làm visa nhanh",
                "thuốc nam gia truyền", "taxi sân bay giá rẻ", "in ấn lấy ngay"],
    "follow": ["like", "follow", "sub YouTube", "mắt livestream", "view TikTok", "đánh giá 5 sao Google Maps",
               "tim Instagram", "thành viên nhóm Facebook"],
    "thuoc": ["viên xương khớp", "cao bổ thận", "thuốc mọc tóc", "kem trắng da", "thuốc cai rượu", "trà giảm mỡ",
              "viên tăng cường sinh lý", "men vi sinh thần kỳ"],
    "job": ["xem video nhận tiền", "đánh máy tại nhà", "đánh giá sản phẩm", "dán tem đóng gói tại nhà",
            "làm nhiệm vụ trên app", "cộng tác viên bán hàng online"],
    "tien": ["300k/ngày", "500k mỗi ngày", "1tr/ngày", "15-20 triệu/tháng", "200 đô mỗi tuần"],
}


def _more_spam_slots(rng: random.Random) -> dict[str, Callable[[], str]]:
    return {"flood": lambda: flood(rng), "gibberish": lambda: gibberish(rng), "shop": lambda: shop_site(rng),
            "hphone": lambda: hidden_phone(rng), "official": lambda: official(rng), "price": lambda: price(rng)}


SPAM += [
    ("spam_off_topic", "spam", "off_topic", [
        "{offtopic}", "{offtopic} 😊", "Mọi người ơi {offtopic}", "{offtopic}, ai biết chỉ mình với",
        "Không liên quan nhưng {offtopic}", "ad duyệt cmt giúp mình với, {offtopic}",
    ], SPAM_SLOTS, ["Hello", "Làm quen", "Xin chào mọi người", "Hỏi xíu", "", "Ahihi"]),
    ("spam_flood", "spam", "flood", [
        "{flood}", "{flood}", "{flood}\n{flood}",
    ], SPAM_SLOTS, ["up", "", "hóng", "😂", "cmt"]),
    ("spam_gibberish", "spam", "gibberish", [
        "{gibberish}", "{gibberish} {gibberish}", "test", "asdasd", "{gibberish}!!!",
    ], SPAM_SLOTS, ["", "test", "aaa", "{gibberish}"]),
    ("spam_brand_only", "spam", "brand_only", [
        "{brandkind} {brandname} - {slogan}", "{brandkind} {brandname}: {slogan}, {slogan}.",
        "Ghé {brandkind} {brandname} để được phục vụ tốt nhất. {slogan}!",
        "{brandkind} {brandname} ✔️ {slogan} ✔️ {slogan}",
        "Hãy chọn {brandkind} {brandname} - {slogan}. Cảm ơn quý khách đã tin tưởng!",
        "Đã dùng dịch vụ của {brandkind} {brandname}, {slogan}, mọi người nên thử.",
    ], SPAM_SLOTS, ["{brandkind} {brandname}", "Giới thiệu", "Uy tín", "Góp ý"]),
    ("spam_seo_drop", "spam", "seo", [
        "{keyword} | {keyword} | {keyword} {shop}",
        "<a href=\"{shop}\">{keyword}</a>", "[url={shop}]{keyword}[/url] giá tốt",
        "Tham khảo {keyword} tại {shop} , {keyword} uy tín.",
        "Bài viết hữu ích. Bên mình chuyên {keyword}, xem tại {shop}",
        "{keyword} {keyword} {keyword}: {shop}",
    ], SPAM_SLOTS, ["{keyword}", "Tham khảo", "Hay", "Dịch vụ"]),
    ("spam_obfuscated_contact", "spam", "obfuscated", [
        "Cần {keyword} ib em nhé, số em {hphone}",
        "Zl: {hphone} hỗ trợ nhiệt tình", "ai cần {thuoc} thì alo {hphone}",
        "Liên hệ: {hphone} (bỏ dấu chấm)", "Nhận {job}, {tien}. Kết bạn zá lô {hphone}",
        "sđt mình {hphone} nha, nhắn tin trước khi gọi",
        "inbox em ở trang cá nhân hoặc gọi {hphone} ạ",
    ], SPAM_SLOTS, ["Liên hệ", "Hỗ trợ", "ib", "Góp ý"]),
    ("spam_fake_followers", "spam", "fake_engagement", [
        "Dịch vụ tăng {follow} giá rẻ, uy tín, bảo hành 30 ngày. Xem bảng giá: {shop}",
        "Bán {follow} thật, tăng nhanh trong 1 giờ. {zalo} {phone}",
        "Cần tăng {follow} cho shop? Inbox ngay, giá chỉ {price}",
        "Nhận chạy {follow} và {follow}, kênh lên xu hướng sau 3 ngày!!!",
    ], SPAM_SLOTS, ["Tăng tương tác", "Dịch vụ MXH", "Hỗ trợ", "Góp ý"]),
    ("spam_pharma", "spam", "sales", [
        "{thuoc} gia truyền, dùng 1 liệu trình là khỏi, không tái phát. Đặt hàng {shop}",
        "Bố mình dùng {thuoc} hết đau hẳn, ai cần mình cho địa chỉ mua nhé, inbox",
        "{thuoc} chính hãng, giá {price}, giao hàng toàn quốc, thanh toán khi nhận.",
        "Bí quyết của mình là {thuoc}, 2 tuần thấy khác biệt, mua tại {shop}",
    ], SPAM_SLOTS, ["Sức khỏe", "Bí quyết", "Chia sẻ thật", "Góp ý"]),
    ("spam_job_more", "spam", "job_scam", [
        "Tuyển 30 bạn {job}, thu nhập {tien}, làm trên điện thoại. Ib mình!",
        "Mình làm {job} được {tien} rồi, ai muốn làm cùng thì nhắn mình nhé",
        "Việc {job}, không cọc, không phí, {tien}. Đăng ký: {shop}",
        "Đang thất nghiệp thì thử {job} đi, {tien}, mình hướng dẫn từ A-Z",
    ], SPAM_SLOTS, ["Việc làm", "Tuyển dụng", "Thu nhập thêm", "Chia sẻ"]),
    ("spam_realestate", "spam", "sales", [
        "Bán gấp lô đất {quan} chỉ {price}/m2, sổ đỏ chính chủ, cắt lỗ sâu. Xem tại {shop}",
        "Căn hộ view hồ, thanh toán 10% nhận nhà, chiết khấu lớn. Gọi em Linh",
        "Đất nền ven đô sắp lên thành phố, mua hôm nay lãi ngay ngày mai. Ib em",
        "Chính chủ cần bán nhà mặt phố {duong}, giá thương lượng, ai quan tâm inbox",
    ], SPAM_SLOTS, ["Bất động sản", "Cơ hội", "Bán gấp", "Thông tin"]),
]

def bet_brand(rng: random.Random) -> str:
    """Betting brands change every month: letters and lucky numbers, not a list to learn by heart."""
    letters = "".join(rng.choice("BCDGHJKMNPQRSTVWXY") for _ in range(rng.randrange(2, 4)))
    return letters + rng.choice(["88", "68", "79", "99", "66", "365", "BET", "CLUB", "WIN", "VIP"])


def fake_official(rng: random.Random) -> str:
    """Look-alike addresses phishing uses: an official-sounding name on a domain no agency uses."""
    base = rng.choice(["vneid", "evn", "dichvucong", "thue", "bhxh", "nganhang", "giaohang", "csgt", "hoantien"])
    suffix = rng.choice(["-capnhat", "-xacminh", "-gov", "-hotro", "247", "-vn"])
    return f"{base}{suffix}.{rng.choice(['com', 'online', 'top', 'xyz', 'site', 'cc'])}"


HATE_BITS = ["đồ ăn hại", "lũ vô học", "câm mồm hết đi", "bọn bò đỏ", "cút hết đi", "nhục như con chó",
             "ngu thì chết", "đồ rác rưởi"]

SPAM_SLOTS["trochoi"] = ["bắn cá", "xóc đĩa online", "tài xỉu", "đá gà trực tiếp", "slot đổi thưởng", "xổ số siêu tốc",
                         "kèo châu Á", "lô xiên", "baccarat"]
SPAM_SLOTS["hate"] = HATE_BITS


def _bet_slots(rng: random.Random) -> dict[str, Callable[[], str]]:
    return {"betbrand": lambda: bet_brand(rng), "fakegov": lambda: fake_official(rng),
            "hateflood": lambda: rng.choice([" ", "!!! ", "\n"]).join([rng.choice(HATE_BITS)] * rng.randrange(3, 8))}


SPAM += [
    ("spam_bet_brands", "spam", "betting", [
        "{betbrand} - {trochoi} uy tín, nạp 100 tặng 100, rút về tài khoản ngay",
        "Anh em chán {trochoi} ở chỗ khác thì qua {betbrand}, tỷ lệ trả thưởng cao nhất",
        "Link vào {betbrand} mới nhất không bị chặn, tìm trên Google: {betbrand}",
        "{trochoi} hôm nay ăn đậm, cảm ơn {betbrand} 🤑🤑",
        "Tân thủ {betbrand} được tặng vốn chơi {trochoi}, đăng ký 1 phút",
        "Ai cần kèo {trochoi} chuẩn thì theo {betbrand}, thắng đều tay",
    ], SPAM_SLOTS, ["Giải trí", "Kiếm thêm", "{betbrand}", "Chia sẻ", "Góp ý"]),
    ("spam_phishing_lookalike", "spam", "phishing", [
        "Thông báo: tài khoản định danh của bạn sắp hết hạn, cập nhật tại {fakegov}",
        "Đơn hàng của bạn giao không thành công, vui lòng xác nhận địa chỉ tại {fakegov}",
        "Quý khách còn nợ cước điện tháng này, thanh toán ngay tại {fakegov} để tránh bị cắt điện.",
        "Bạn có khoản hoàn thuế {price}, nhận tiền tại {fakegov} trước 17h hôm nay",
        "Giấy phạt nguội của bạn đã có, tra cứu và nộp phạt tại {fakegov}",
    ], SPAM_SLOTS, ["Thông báo", "Khẩn", "Quan trọng", "Nhắc nhở"]),
    ("spam_hate_flood", "spam", "abuse_flood", [
        "{hateflood}", "{hateflood}!!!", "{hate} {hate} {hate}", "ĐỌC BÁO NÀY TOÀN {hateflood}",
    ], SPAM_SLOTS, ["", "!!!", "Cút", "..."]),
]

HAM_SLOTS["cobac"] = ["tài xỉu", "bắn cá", "xóc đĩa", "lô đề", "cá độ bóng đá", "game bài đổi thưởng", "nổ hũ",
                      "đá gà qua mạng", "app vay nóng", "sàn tiền ảo"]
HAM += [
    # Readers talk about gambling and loan sharks in the news too: the vocabulary is spam's, the
    # intent is not (no link, no number, no invitation).
    ("ham_gambling_news", "ham", "hard_ham", [
        "Triệt phá đường dây {cobac} là đúng, nhưng bọn cầm đầu thường ở nước ngoài, khó bắt lắm.",
        "Cháu họ nhà tôi nghiện {cobac}, bán cả xe máy của bố mẹ. Gia đình khổ sở vô cùng.",
        "Quảng cáo {cobac} xuất hiện cả trong game của trẻ con, phụ huynh phải để ý.",
        "Ai dính vào {cobac} thì cũng trắng tay thôi, nhà cái chẳng bao giờ thua.",
        "Đề nghị phạt nặng những người nổi tiếng nhận quảng cáo {cobac}.",
        "Khu trọ tôi có mấy thanh niên chơi {cobac} thâu đêm, nợ nần rồi bị đòi nợ tận cửa.",
    ], HAM_SLOTS, ["Tệ nạn", "Cảnh báo", "Bức xúc", "Ý kiến"]),
]


# Families held out whole for the test split: one or two per kind of comment.
HELD_OUT = {
    "ham_traffic_transit", "ham_health_advice", "ham_housing", "ham_question", "ham_weather",
    "ham_against_gambling", "ham_thanks_reporter", "ham_local_business_praise",
    "spam_bet_lode", "spam_loan_card", "spam_sales_sim", "spam_investment_land", "spam_fake_prize",
    "spam_disguised_opinion", "spam_hidden_link",
    "spam_job_more",
}
PER_HAM_FAMILY = 120
PER_SPAM_FAMILY = 95


def spam_slots(rng: random.Random) -> dict[str, Callable[[], str]]:
    def spaced() -> str:
        return " ".join(rng.choice(SITE))

    def dotted() -> str:
        return " ".join(site(rng))

    def chamcom() -> str:
        return f"{rng.choice(SITE)} chấm {rng.choice(TLD)}"

    return {"link": lambda: link(rng), "site": lambda: site(rng), "phone": lambda: phone(rng),
            "zalo": lambda: zalo(rng), "spaced": spaced, "dotted": dotted, "chamcom": chamcom,
            **_more_spam_slots(rng), **_bet_slots(rng)}


def expand(template: str, rng: random.Random, extra: dict[str, list[str]]) -> str:
    dynamic = spam_slots(rng)

    def one(m: re.Match[str]) -> str:
        key = m.group(1)
        if key in dynamic:
            return dynamic[key]()
        return rng.choice({**V, **extra}[key])

    return re.sub(r"\{(\w+)\}", one, template)


def generate() -> list[dict[str, object]]:
    rng = random.Random(SEED)
    out: list[dict[str, object]] = []
    seen: set[tuple[str, str]] = set()
    for families, per in ((HAM, PER_HAM_FAMILY), (SPAM, PER_SPAM_FAMILY)):
        for family_id, label, category, templates, extra, titles in families:
            spam = label == "spam"
            made, tries = 0, 0
            while made < per and tries < per * 20:
                tries += 1
                t_index = rng.randrange(len(templates))
                content, reg = register(expand(templates[t_index], rng, extra), rng, spam=spam)
                # Readers often leave the title as a word or two; sometimes as the opening words.
                title = expand(rng.choice(titles), rng, extra)
                if rng.random() < 0.15:
                    title = " ".join(content.split()[:5])
                if rng.random() < 0.25:
                    title = strip_tones(title)
                name = spam_name(rng) if spam else person(rng)
                key = (title, content)
                if key in seen:
                    continue
                seen.add(key)
                made += 1
                out.append({
                    "name": name, "title": title, "content": content, "label": label,
                    "category": category, "family": family_id, "template": f"{family_id}#{t_index}",
                    "register": reg, "split": "test" if family_id in HELD_OUT else "train",
                })
    return out


def main() -> int:
    rows = generate()
    with OUT.open("w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
    n_spam = sum(r["label"] == "spam" for r in rows)
    n_test = sum(r["split"] == "test" for r in rows)
    print(f"wrote {len(rows)} examples ({n_spam} spam, {n_test} test) to {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
