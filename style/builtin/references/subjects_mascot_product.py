"""Subjects for the ``vintage-mascot`` and ``product-concept`` reference folders (see make_references.py)."""

from __future__ import annotations

import math

INK = (35, 30, 30)
WHITE = (248, 246, 240)
CREAM = (236, 226, 200)
RED = (200, 52, 44)
NAVY = (40, 58, 110)
MUSTARD = (222, 170, 50)
BROWN = (130, 82, 48)
TAN = (196, 146, 92)
GREEN = (60, 140, 80)
PINK = (236, 140, 150)
GREY = (150, 152, 158)
STEEL = (178, 184, 192)
ORANGE = (232, 124, 36)


# ---------------------------------------------------------------------------- vintage-mascot
def golf_ball_mascot(p) -> None:
    p.limb([(440, 740), (425, 880)], 34, NAVY)
    p.limb([(560, 740), (580, 880)], 34, NAVY)
    p.ellipse(395, 900, 70, 34, BROWN)
    p.ellipse(610, 900, 70, 34, BROWN)
    p.limb([(300, 560), (230, 600), (180, 520)], 30, (90, 90, 100))
    p.limb([(700, 560), (790, 520), (820, 420)], 30, (90, 90, 100))
    p.ellipse(500, 530, 250, 250, (222, 222, 214), shade=0.45)
    for gx in range(300, 720, 56):  # dimples away from the face
        for gy in range(330, 780, 56):
            off = 28 if (gy // 56) % 2 else 0
            x = gx + off
            if (x - 500) ** 2 + (gy - 530) ** 2 < 225**2 and not (380 < x < 620 and 420 < gy < 700):
                p.ellipse(x, gy, 13, 13, (188, 188, 182), shade=0)
    p.ellipse(175, 505, 52, 48, (245, 245, 240), shade=0.35)  # gloves
    p.ellipse(825, 400, 52, 48, (245, 245, 240), shade=0.35)
    p.stroke([(150, 500), (200, 490)], (170, 170, 165), 6)
    p.chord((300, 230, 700, 520), 180, 360, RED, shade=0.4)  # cap dome
    p.ellipse(610, 372, 200, 36, (160, 36, 30), shade=0.2, rot=-4)  # brim
    p.ellipse(500, 236, 18, 14, (160, 36, 30), shade=0)
    p.eye(440, 470, 40, 52, look=(0.3, 0.2))
    p.eye(565, 470, 40, 52, look=(0.3, 0.2))
    p.chord((400, 540, 610, 690), 0, 180, (120, 25, 35), shade=0.1)
    p.ellipse(505, 652, 50, 24, PINK, shade=0)
    p.ellipse(370, 560, 28, 16, (240, 170, 170), shade=0)
    p.ellipse(640, 560, 28, 16, (240, 170, 170), shade=0)


def bulldog_head(p) -> None:
    p.rect(290, 700, 710, 790, RED, r=30)  # collar
    for x in range(320, 700, 70):
        p.poly([(x, 790), (x + 35, 870), (x + 70, 790)], STEEL, shade=0.3)
    p.poly([(230, 330), (290, 170), (400, 260)], (90, 55, 35))  # ears
    p.poly([(770, 330), (710, 170), (600, 260)], (90, 55, 35))
    p.ellipse(500, 470, 290, 260, TAN, shade=0.4)
    p.ellipse(400, 610, 140, 110, CREAM, shade=0.25)  # jowls
    p.ellipse(600, 610, 140, 110, CREAM, shade=0.25)
    p.chord((380, 600, 620, 780), 0, 180, (110, 30, 35), shade=0.1)  # underbite mouth
    p.poly([(405, 660), (425, 600), (445, 660)], WHITE, shade=0)
    p.poly([(555, 660), (575, 600), (595, 660)], WHITE, shade=0)
    p.ellipse(500, 540, 70, 45, INK, shade=0.2)  # nose
    p.ellipse(480, 525, 18, 10, (120, 110, 110), shade=0)
    p.eye(385, 420, 38, 34, look=(0.2, 0.1))
    p.eye(615, 420, 38, 34, look=(-0.2, 0.1))
    p.stroke([(330, 360), (440, 390)], INK, 22)  # frowning brows
    p.stroke([(670, 360), (560, 390)], INK, 22)
    p.stroke([(460, 300), (500, 330), (540, 300)], (150, 100, 60), 10)  # forehead wrinkle


def bear_waving(p) -> None:
    p.ellipse(410, 890, 80, 40, (100, 62, 38))
    p.ellipse(590, 890, 80, 40, (100, 62, 38))
    p.limb([(430, 760), (415, 870)], 80, BROWN)
    p.limb([(570, 760), (585, 870)], 80, BROWN)
    p.ellipse(500, 640, 190, 200, BROWN, shade=0.4)
    p.ellipse(500, 680, 110, 120, CREAM, shade=0.2)  # belly
    p.limb([(330, 580), (260, 700)], 70, BROWN)
    p.limb([(670, 560), (770, 470), (790, 340)], 70, BROWN)  # waving arm
    p.ellipse(795, 320, 52, 52, (100, 62, 38))
    p.poly(
        [(440, 470), (500, 510), (560, 470), (560, 530), (500, 500), (440, 530)], RED, shade=0.2
    )  # bow tie
    p.ellipse(350, 190, 60, 60, BROWN)
    p.ellipse(650, 190, 60, 60, BROWN)
    p.ellipse(350, 190, 32, 32, PINK, shade=0)
    p.ellipse(650, 190, 32, 32, PINK, shade=0)
    p.ellipse(500, 320, 180, 160, BROWN, shade=0.4)
    p.ellipse(500, 385, 80, 60, CREAM, shade=0.2)
    p.ellipse(500, 360, 30, 20, INK, shade=0)
    p.arc((455, 360, 545, 430), 20, 160, INK, 9)
    p.eye(430, 290, 24, 28)
    p.eye(570, 290, 24, 28)


def eagle_mascot(p) -> None:
    for side in (-1, 1):  # spread wings of scalloped feathers
        for i in range(5):
            x = 500 + side * (170 + i * 55)
            y = 470 - i * 30
            p.ellipse(x, y + 90, 40, 120, (110, 70, 40) if i % 2 else (95, 60, 35), rot=side * (25 + i * 8))
        p.poly(
            [
                (500 + side * 120, 420),
                (500 + side * 420, 300),
                (500 + side * 380, 470),
                (500 + side * 140, 560),
            ],
            BROWN,
            shade=0.3,
        )
    p.poly([(420, 720), (500, 900), (580, 720)], (90, 55, 30))  # tail
    p.ellipse(500, 580, 150, 190, BROWN, shade=0.4)
    p.limb([(450, 740), (440, 820)], 22, MUSTARD)
    p.limb([(550, 740), (560, 820)], 22, MUSTARD)
    for x in (410, 440, 470, 530, 560, 590):
        p.capsule((x + (15 if x < 500 else -15), 820), (x, 850), 14, MUSTARD)
    p.ellipse(500, 330, 130, 120, WHITE, shade=0.35)  # white head
    p.poly([(490, 350), (640, 330), (650, 400), (600, 420), (560, 390)], MUSTARD, shade=0.3)  # hooked beak
    p.eye(470, 310, 26, 28, look=(0.5, 0))
    p.stroke([(420, 265), (520, 295)], INK, 20)  # fierce brow


def tiger_head(p) -> None:
    p.poly([(280, 300), (300, 150), (420, 230)], ORANGE)
    p.poly([(720, 300), (700, 150), (580, 230)], ORANGE)
    p.poly([(310, 270), (315, 195), (380, 240)], PINK, shade=0)
    p.poly([(690, 270), (685, 195), (620, 240)], PINK, shade=0)
    p.ellipse(500, 470, 270, 250, ORANGE, shade=0.35)
    p.poly(
        [(230, 520), (300, 720), (500, 760), (700, 720), (770, 520), (620, 600), (500, 560), (380, 600)],
        WHITE,
        shade=0.25,
    )  # cheek ruff
    for side in (-1, 1):
        for i, (dx, dy) in enumerate([(215, 420), (230, 480), (200, 540)]):
            x = 500 + side * dx
            p.poly([(x, dy - 15), (x - side * (90 - i * 15), dy), (x, dy + 15)], INK, shade=0)
        p.poly([(500 + side * 60, 250), (500 + side * 40, 340), (500 + side * 90, 260)], INK, shade=0)
    p.poly([(470, 240), (500, 330), (530, 240)], INK, shade=0)
    p.eye(410, 420, 42, 32, look=(0.2, 0))
    p.eye(590, 420, 42, 32, look=(-0.2, 0))
    p.poly([(460, 520), (540, 520), (500, 565)], PINK, shade=0.1)  # nose
    p.chord((420, 560, 580, 690), 0, 180, (120, 25, 35), shade=0.1)
    p.poly([(440, 600), (455, 655), (470, 600)], WHITE, shade=0)
    p.poly([(530, 600), (545, 655), (560, 600)], WHITE, shade=0)


def golfer_swing(p) -> None:
    p.stroke([(640, 905), (640, 872)], (200, 170, 120), 10)  # tee
    p.ellipse(640, 855, 20, 20, (215, 215, 208), shade=0.5)
    p.limb([(470, 560), (400, 720), (360, 880)], 60, NAVY)  # legs apart
    p.limb([(520, 560), (570, 720), (560, 880)], 60, NAVY)
    p.ellipse(345, 895, 60, 25, INK)
    p.ellipse(580, 895, 60, 25, INK)
    p.poly([(420, 340), (580, 330), (560, 580), (440, 585)], RED, shade=0.35)  # torso, twisted
    p.capsule((640, 120), (300, 350), 16, GREY, shade=0.1)  # club over the shoulder, mid backswing
    p.ellipse(645, 112, 40, 22, STEEL, rot=-35)
    p.limb([(560, 360), (470, 330), (360, 310)], 44, RED)  # both arms to the grip
    p.limb([(440, 360), (400, 320), (360, 310)], 44, (170, 40, 35))
    p.ellipse(350, 305, 34, 30, (230, 190, 160))  # hands
    p.rect(475, 300, 525, 345, (230, 190, 160), r=10)  # neck
    p.ellipse(500, 245, 75, 82, (230, 190, 160), shade=0.3)  # head, looking down at the ball
    p.chord((420, 150, 580, 300), 180, 360, NAVY, shade=0.3)  # cap
    p.ellipse(430, 228, 70, 16, (30, 45, 90), rot=12)  # brim
    p.eye(470, 262, 11, 13, look=(-0.4, 0.5))
    p.stroke([(455, 300), (485, 305)], (150, 60, 50), 6)


def gopher_flag(p) -> None:
    p.capsule((720, 120), (720, 700), 14, (240, 240, 235))  # flag pin
    p.poly([(727, 120), (900, 170), (727, 230)], RED, shade=0.25)
    p.ellipse(500, 800, 330, 110, (110, 170, 80), shade=0.3)  # green
    p.ellipse(500, 780, 150, 45, (60, 45, 35), shade=0)  # hole
    p.ellipse(500, 600, 130, 190, TAN, shade=0.35)
    p.ellipse(500, 660, 80, 110, CREAM, shade=0.2)
    p.ellipse(500, 790, 175, 40, (110, 170, 80), shade=0.2)  # front lip of the hole hides the body
    p.ellipse(500, 400, 140, 125, TAN, shade=0.35)
    p.ellipse(390, 300, 40, 40, TAN)
    p.ellipse(610, 300, 40, 40, TAN)
    p.ellipse(500, 450, 70, 50, CREAM, shade=0.2)
    p.ellipse(500, 425, 22, 16, INK, shade=0)
    p.rect(478, 470, 522, 530, WHITE, shade=0.1, r=6)  # buck teeth
    p.stroke([(500, 472), (500, 528)], (120, 120, 120), 4)
    p.eye(450, 370, 24, 30, look=(0.3, -0.3))
    p.eye(550, 370, 24, 30, look=(0.3, -0.3))
    p.limb([(420, 560), (380, 640)], 40, TAN)
    p.limb([(580, 560), (630, 500), (700, 480)], 40, TAN)


def smiling_sun(p) -> None:
    for i in range(12):
        t = math.radians(i * 30)
        a, b = math.radians(i * 30 - 9), math.radians(i * 30 + 9)
        p.poly(
            [
                (500 + 250 * math.cos(a), 500 + 250 * math.sin(a)),
                (500 + 430 * math.cos(t), 500 + 430 * math.sin(t)),
                (500 + 250 * math.cos(b), 500 + 250 * math.sin(b)),
            ],
            ORANGE,
            shade=0.2,
        )
    p.ellipse(500, 500, 280, 280, MUSTARD, shade=0.35)
    p.rect(330, 400, 480, 480, INK, r=30)  # sunglasses
    p.rect(520, 400, 670, 480, INK, r=30)
    p.stroke([(480, 425), (520, 425)], INK, 14)
    p.stroke([(345, 415), (380, 415)], (150, 150, 160), 8)
    p.chord((370, 520, 630, 700), 0, 180, (130, 30, 30), shade=0.1)
    p.ellipse(330, 560, 40, 24, (240, 130, 90), shade=0)
    p.ellipse(670, 560, 40, 24, (240, 130, 90), shade=0)


# --------------------------------------------------------------------------- product-concept
def putter(p) -> None:
    p.capsule((330, 90), (420, 340), 46, INK, shade=0.2)  # grip
    p.capsule((420, 330), (610, 820), 16, STEEL, shade=0.3)  # shaft
    p.poly([(470, 790), (760, 790), (780, 860), (450, 880)], (120, 125, 135), shade=0.45)  # mallet head
    p.rect(560, 800, 700, 830, (210, 215, 220), shade=0, r=8)
    p.ellipse(250, 850, 45, 45, (215, 215, 208), shade=0.5)


def golf_bag(p) -> None:
    p.capsule((330, 400), (200, 880), 14, INK)  # stand legs
    p.capsule((380, 420), (270, 900), 14, INK)
    for x, h, c in ((420, 110, STEEL), (500, 80, (60, 60, 60)), (580, 130, STEEL)):  # club heads
        p.capsule((x, 260), (x, h + 30), 12, GREY)
        p.ellipse(x + 25, h, 50, 34, c, rot=-15)
    p.rect(360, 250, 640, 880, NAVY, r=50, shade=0.4)
    p.ellipse(500, 255, 150, 45, (30, 40, 80), shade=0)
    p.rect(360, 330, 640, 380, RED, shade=0.2)  # collar band
    p.rect(400, 480, 600, 700, (60, 80, 140), r=30, shade=0.3)  # pocket
    p.stroke([(410, 560), (590, 560)], (200, 200, 210), 8)
    p.rect(360, 820, 640, 880, INK, r=20, shade=0.1)
    p.arc((400, 340, 680, 760), 300, 60, (150, 110, 70), 26)  # strap


def sneaker(p) -> None:
    p.poly([(110, 690), (880, 690), (910, 750), (870, 800), (140, 800), (100, 750)], WHITE, shade=0.3)  # sole
    p.poly([(110, 770), (890, 770), (870, 800), (140, 800)], GREY, shade=0)
    p.poly([(480, 390), (420, 385), (380, 470), (520, 480)], (150, 35, 30), shade=0.2)  # tongue
    p.poly(
        [(120, 700), (140, 470), (260, 430), (400, 470), (520, 470), (700, 560), (840, 600), (900, 690)],
        RED,
        shade=0.4,
    )  # upper
    p.poly([(160, 470), (260, 440), (390, 475), (300, 500)], (80, 20, 20), shade=0)  # collar opening
    p.poly([(250, 650), (560, 540), (700, 580), (320, 690)], WHITE, shade=0.1)  # side stripe
    for i in range(5):  # laces
        x = 420 + i * 60
        p.stroke([(x, 470 + i * 22), (x + 50, 500 + i * 22)], WHITE, 12)
    p.poly([(700, 690), (760, 580), (840, 600), (900, 690)], (170, 40, 35), shade=0.2)  # toe cap


def water_bottle(p) -> None:
    p.arc((430, 60, 570, 190), 180, 360, INK, 18)  # carry loop
    p.rect(400, 120, 600, 210, INK, r=30, shade=0.3)  # cap
    p.rect(380, 200, 620, 260, (70, 70, 75), r=16)
    p.rect(340, 250, 660, 900, (50, 150, 160), r=80, shade=0.45)
    p.rect(340, 480, 660, 640, WHITE, shade=0.2)
    p.poly([(430, 600), (500, 510), (570, 600)], (50, 150, 160), shade=0)  # mountain logo
    p.rect(380, 300, 410, 860, (160, 220, 225), shade=0, r=14)  # highlight


def headphones(p) -> None:
    p.arc((230, 150, 770, 720), 180, 360, INK, 50)  # headband
    p.arc((260, 180, 740, 690), 200, 340, (90, 90, 95), 20)
    for side in (-1, 1):
        x = 500 + side * 250
        p.capsule((x, 400), (x, 470), 30, STEEL)
        p.ellipse(x, 580, 110, 150, INK, shade=0.35)
        p.ellipse(x - side * 60, 580, 60, 130, (110, 110, 115), shade=0.3)  # cushion
        p.ellipse(x + side * 20, 580, 50, 80, RED, shade=0.3)


def desk_lamp(p) -> None:
    p.ellipse(330, 860, 170, 45, INK, shade=0.3)  # base
    p.capsule((330, 840), (250, 520), 30, RED)  # lower arm
    p.capsule((250, 520), (520, 320), 30, RED)  # upper arm
    p.ellipse(250, 520, 30, 30, INK)
    p.ellipse(520, 320, 30, 30, INK)
    p.poly([(500, 280), (600, 260), (800, 480), (620, 600)], RED, shade=0.45)  # cone shade
    p.ellipse(710, 540, 100, 30, (255, 235, 150), shade=0, rot=-45)
    p.ellipse(740, 580, 45, 45, (255, 240, 170), shade=0.2)  # bulb


def lounge_chair(p) -> None:
    p.capsule((340, 620), (250, 900), 28, (120, 80, 50))  # legs (side view)
    p.capsule((660, 640), (740, 900), 28, (120, 80, 50))
    p.poly([(260, 620), (250, 170), (360, 150), (400, 620)], (150, 95, 55), shade=0.35)  # reclined back shell
    p.rect(270, 570, 730, 670, (150, 95, 55), r=30, shade=0.3)  # seat shell
    p.rect(290, 520, 720, 600, GREEN, r=36, shade=0.35)  # seat cushion
    p.poly([(280, 560), (270, 200), (350, 190), (380, 560)], GREEN, shade=0.35)  # back cushion
    p.capsule((640, 460), (640, 560), 24, (120, 80, 50))  # armrest support
    p.capsule((330, 440), (690, 450), 34, (150, 95, 55))  # armrest


def cordless_drill(p) -> None:
    p.rect(330, 760, 620, 880, INK, r=20, shade=0.3)  # battery
    p.poly([(380, 420), (540, 420), (560, 760), (400, 760)], ORANGE, shade=0.4)  # handle
    p.rect(230, 280, 700, 460, ORANGE, r=60, shade=0.4)  # body
    p.rect(260, 300, 430, 440, INK, r=40, shade=0.2)  # motor vents
    for x in (290, 330, 370):
        p.stroke([(x, 320), (x, 420)], (110, 110, 110), 10)
    p.rect(700, 310, 790, 430, (70, 70, 75), r=14)  # chuck
    p.rect(790, 340, 840, 400, STEEL, r=8)
    p.capsule((840, 370), (950, 370), 14, STEEL, shade=0.1)  # bit
    p.rect(520, 460, 560, 540, INK, r=10)  # trigger


SUBJECTS = [
    (
        "vintage-mascot",
        "golf-ball-mascot-cap",
        "golf ball mascot character with a cap, cartoon face, gloves, waving",
        golf_ball_mascot,
    ),
    (
        "vintage-mascot",
        "bulldog-head-mascot",
        "tough bulldog head mascot with spiked collar and underbite",
        bulldog_head,
    ),
    ("vintage-mascot", "bear-mascot-waving", "friendly bear mascot waving, bow tie, full body", bear_waving),
    (
        "vintage-mascot",
        "eagle-bird-mascot",
        "eagle bird mascot with spread wings and fierce brow",
        eagle_mascot,
    ),
    (
        "vintage-mascot",
        "tiger-head-mascot",
        "tiger head mascot with stripes, fangs and cheek ruff",
        tiger_head,
    ),
    (
        "vintage-mascot",
        "golfer-mid-swing",
        "golfer figure mid swing with club over the shoulder, cap, ball on tee",
        golfer_swing,
    ),
    (
        "vintage-mascot",
        "gopher-golf-flag-mascot",
        "gopher mascot peeking from a golf hole next to the flag pin",
        gopher_flag,
    ),
    (
        "vintage-mascot",
        "smiling-sun-mascot",
        "smiling sun mascot with sunglasses and rays, retro",
        smiling_sun,
    ),
    (
        "product-concept",
        "golf-putter-mallet",
        "golf putter with mallet head, grip and shaft, golf ball",
        putter,
    ),
    ("product-concept", "golf-bag-stand", "golf stand bag with clubs, strap and pocket", golf_bag),
    ("product-concept", "running-sneaker", "running sneaker shoe side view, laces and sole", sneaker),
    ("product-concept", "water-bottle", "insulated water bottle with cap and carry loop", water_bottle),
    ("product-concept", "over-ear-headphones", "over ear headphones with headband and cushions", headphones),
    ("product-concept", "desk-lamp", "articulated desk lamp with cone shade and base", desk_lamp),
    ("product-concept", "lounge-chair", "mid century lounge chair with cushions and legs", lounge_chair),
    (
        "product-concept",
        "cordless-drill",
        "cordless power drill with battery, trigger and chuck",
        cordless_drill,
    ),
]
