"""Subjects for the ``editorial-spot`` and ``badge-emblem`` reference folders (see make_references.py)."""

from __future__ import annotations

import math

INK = (35, 30, 30)
WHITE = (248, 246, 240)
CREAM = (236, 226, 200)
RED = (200, 52, 44)
NAVY = (40, 58, 110)
MUSTARD = (222, 170, 50)
GOLD = (214, 168, 60)
BROWN = (130, 82, 48)
GREEN = (60, 140, 80)
DARK_GREEN = (40, 100, 60)
SKIN = (232, 188, 152)
TEAL = (50, 150, 160)
GREY = (150, 152, 158)
STEEL = (178, 184, 192)
TERRACOTTA = (196, 96, 60)
SKY = (110, 160, 210)


# ---------------------------------------------------------------------------- editorial-spot
def figure_at_desk(p) -> None:
    p.capsule((300, 700), (280, 900), 24, BROWN)  # chair
    p.rect(220, 640, 420, 700, BROWN, r=14)
    p.rect(200, 400, 250, 690, BROWN, r=14)
    p.limb([(330, 620), (480, 640), (480, 860)], 56, NAVY)  # legs under the desk
    p.ellipse(505, 870, 50, 22, INK)
    p.rect(250, 420, 400, 650, TEAL, r=50, shade=0.35)  # torso
    p.ellipse(330, 340, 70, 78, SKIN, shade=0.3)  # head
    p.chord((255, 255, 405, 395), 170, 370, (70, 45, 30), shade=0.2)  # hair
    p.limb([(360, 470), (450, 560), (560, 545)], 40, TEAL)  # arm to the keyboard
    p.ellipse(575, 545, 26, 20, SKIN)
    p.rect(420, 570, 900, 610, (170, 120, 75), r=8)  # desk top
    p.capsule((450, 600), (450, 900), 26, (120, 80, 50))
    p.capsule((870, 600), (870, 900), 26, (120, 80, 50))
    p.poly([(560, 560), (780, 560), (800, 572), (540, 572)], GREY, shade=0.2)  # laptop base
    p.poly([(620, 560), (790, 560), (820, 390), (660, 390)], (80, 84, 92), shade=0.3)  # laptop lid
    p.rect(820, 500, 870, 570, RED, r=8)  # mug
    p.arc((850, 515, 895, 555), 270, 90, RED, 10)


def hand_phone(p) -> None:
    p.limb([(120, 960), (300, 760)], 190, (90, 110, 160))  # sleeve
    p.ellipse(420, 640, 170, 190, SKIN, shade=0.35, rot=-30)  # palm
    p.rect(380, 170, 640, 700, INK, r=40, shade=0.2)  # phone
    p.rect(400, 210, 620, 640, SKY, r=16, shade=0.3)  # screen
    for i in range(3):
        p.rect(425, 260 + i * 110, 595, 340 + i * 110, WHITE, shade=0, r=12)
    for i, y in enumerate((420, 500, 580)):  # fingers wrapping the far edge
        p.limb([(560, y + 70), (650, y), (640, y - 40)], 64 - i * 4, SKIN)
    p.limb([(330, 600), (340, 470), (400, 430)], 70, SKIN)  # thumb
    p.ellipse(405, 430, 20, 16, (245, 215, 200), shade=0)


def city_skyline(p) -> None:
    p.ellipse(700, 300, 120, 120, MUSTARD, shade=0.2)  # sun
    blocks = [
        (80, 520, 210, NAVY),
        (200, 380, 320, (70, 90, 140)),
        (310, 250, 420, (50, 70, 120)),
        (410, 450, 540, SKY),
        (530, 330, 650, (60, 80, 130)),
        (640, 480, 760, (90, 110, 160)),
        (750, 410, 920, NAVY),
    ]
    for x0, top, x1, col in blocks:
        p.rect(x0, top, x1, 860, col, shade=0.3)
        for wy in range(top + 40, 820, 70):  # windows
            for wx in range(x0 + 22, x1 - 30, 45):
                p.rect(wx, wy, wx + 22, wy + 34, (250, 225, 140), shade=0)
    p.poly([(350, 250), (365, 120), (380, 250)], GREY, shade=0.2)  # spire
    p.rect(40, 860, 960, 900, (70, 70, 75), shade=0)


def potted_plant(p) -> None:
    leaves = [
        (-60, 40, -150),
        (60, 40, -30),
        (-30, 30, -120),
        (40, 30, -60),
        (0, 20, -90),
        (-90, 50, -170),
        (90, 50, -10),
    ]
    for dx, dy, ang in leaves:  # stems then leaves fanning out
        a = math.radians(ang)
        tip = (500 + dx + 330 * math.cos(a), 520 + dy + 330 * math.sin(a))
        p.stroke([(500, 560), tip], DARK_GREEN, 12)
        mid = (500 + dx + 230 * math.cos(a), 520 + dy + 230 * math.sin(a))
        p.ellipse(mid[0], mid[1], 120, 50, GREEN if ang % 20 else DARK_GREEN, shade=0.35, rot=ang)
    p.poly([(330, 600), (670, 600), (620, 900), (380, 900)], TERRACOTTA, shade=0.35)  # pot
    p.rect(300, 560, 700, 630, (176, 80, 50), r=12, shade=0.3)  # rim


def coffee_cup(p) -> None:
    for x in (420, 500, 580):  # steam
        p.stroke([(x, 400), (x - 30, 340), (x + 20, 280), (x - 20, 210), (x + 10, 150)], (170, 170, 175), 16)
    p.ellipse(500, 800, 300, 70, WHITE, shade=0.4)  # saucer
    p.ring(700, 580, 75, 30, (170, 60, 50))  # handle
    p.poly([(290, 450), (710, 450), (660, 780), (340, 780)], RED, shade=0.4)  # cup
    p.ellipse(500, 450, 210, 40, (200, 60, 50), shade=0)
    p.ellipse(500, 455, 185, 28, (90, 55, 35), shade=0.1)  # coffee
    p.rect(360, 560, 640, 620, CREAM, shade=0.1)


def bicycle(p) -> None:
    for cx in (260, 740):
        p.ring(cx, 640, 170, 26, INK)
        p.ring(cx, 640, 30, 10, GREY)
        for k in range(8):  # spokes
            a = math.radians(k * 22.5)
            p.stroke(
                [
                    (cx - 150 * math.cos(a), 640 - 150 * math.sin(a)),
                    (cx + 150 * math.cos(a), 640 + 150 * math.sin(a)),
                ],
                (170, 170, 170),
                3,
            )
    frame = [
        ((260, 640), (450, 640)),
        ((450, 640), (390, 420)),
        ((390, 420), (680, 420)),
        ((680, 420), (450, 640)),
        ((260, 640), (390, 420)),
        ((680, 420), (740, 640)),
        ((680, 420), (660, 340)),
    ]
    for a, b in frame:
        p.capsule(a, b, 26, RED, shade=0.2)
    p.ring(450, 640, 45, 14, GREY)
    p.poly([(340, 380), (450, 370), (440, 400), (350, 405)], INK, shade=0.1)  # saddle
    p.capsule((390, 420), (395, 385), 16, GREY)
    p.stroke([(610, 330), (700, 340), (740, 390)], INK, 18)  # handlebar


def person_walking_dog(p) -> None:
    p.limb([(300, 560), (250, 720), (210, 880)], 48, NAVY)  # stride
    p.limb([(320, 560), (370, 720), (400, 870)], 48, (30, 45, 90))
    p.ellipse(190, 890, 45, 20, INK)
    p.ellipse(420, 880, 45, 20, INK)
    p.rect(240, 320, 380, 590, MUSTARD, r=50, shade=0.35)  # coat
    p.ellipse(310, 250, 60, 66, SKIN, shade=0.3)
    p.chord((245, 180, 375, 300), 180, 360, (60, 40, 30), shade=0.2)
    p.limb([(360, 360), (420, 460), (480, 520)], 36, MUSTARD)  # arm holding the leash
    p.ellipse(490, 528, 22, 20, SKIN)
    p.stroke([(495, 535), (600, 640), (660, 640)], RED, 8)  # leash
    p.ellipse(740, 720, 130, 70, BROWN, shade=0.35)  # dog body
    for x in (650, 690, 790, 830):
        p.capsule((x, 740), (x, 860), 26, BROWN)
    p.limb([(860, 700), (920, 620)], 20, BROWN)  # tail up
    p.ellipse(640, 640, 60, 52, BROWN, shade=0.35)  # dog head
    p.ellipse(590, 660, 40, 26, (160, 110, 70), shade=0.2)  # snout
    p.ellipse(560, 655, 10, 9, INK, shade=0)
    p.ellipse(660, 610, 26, 50, (90, 55, 30), rot=20)  # ear
    p.eye(625, 630, 9, 10)


def light_bulb(p) -> None:
    for k in range(9):  # idea rays
        a = math.radians(-180 + k * 22.5)
        p.capsule(
            (500 + 300 * math.cos(a), 400 + 300 * math.sin(a)),
            (500 + 400 * math.cos(a), 400 + 400 * math.sin(a)),
            26,
            MUSTARD,
            shade=0,
        )
    p.ellipse(500, 400, 220, 220, (255, 222, 110), shade=0.35)  # glass
    p.poly([(380, 560), (620, 560), (580, 680), (420, 680)], (255, 222, 110), shade=0.3)
    p.stroke([(440, 640), (460, 420), (500, 470), (540, 420), (560, 640)], (200, 120, 40), 10)  # filament
    for i in range(4):  # screw base
        p.rect(415, 680 + i * 40, 585, 715 + i * 40, GREY if i % 2 else STEEL, r=14, shade=0.3)
    p.chord((450, 810, 550, 880), 0, 180, INK, shade=0.1)
    p.ellipse(420, 320, 40, 70, (255, 248, 220), shade=0, rot=30)  # highlight


# ----------------------------------------------------------------------------- badge-emblem
def shield_crest(p) -> None:
    outer = [(200, 150), (800, 150), (800, 500), (500, 900), (200, 500)]
    inner = [(240, 190), (760, 190), (760, 490), (500, 840), (240, 490)]
    p.poly(outer, GOLD, shade=0.35)
    p.poly(inner, NAVY, shade=0.35)
    p.poly(
        [(240, 480), (500, 330), (760, 480), (760, 560), (500, 410), (240, 560)], RED, shade=0.2
    )  # chevron
    for x, y in ((370, 270), (630, 270), (500, 640)):
        p.poly(p.star_pts(x, y, 55, 22), GOLD, shade=0.2)
    p.poly([(150, 90), (850, 90), (800, 150), (200, 150)], RED, shade=0.2)  # top band


def circular_seal(p) -> None:
    p.poly(p.star_pts(500, 500, 400, 360, n=36), GOLD, shade=0.35)  # serrated rim
    p.ellipse(500, 500, 330, 330, NAVY, shade=0.3)
    p.ring(500, 500, 290, 14, CREAM)
    for k in range(24):  # dotted inner band
        a = math.radians(k * 15)
        p.ellipse(500 + 250 * math.cos(a), 500 + 250 * math.sin(a), 12, 12, CREAM, shade=0)
    p.poly(p.star_pts(500, 500, 170, 70), GOLD, shade=0.3)


def ribbon_star(p) -> None:
    p.poly(p.star_pts(500, 330, 200, 85), GOLD, shade=0.35)
    p.poly([(100, 560), (230, 560), (230, 720), (100, 720), (160, 640)], (150, 35, 30), shade=0.1)  # tails
    p.poly([(900, 560), (770, 560), (770, 720), (900, 720), (840, 640)], (150, 35, 30), shade=0.1)
    p.poly([(230, 690), (290, 720), (290, 690)], (100, 20, 20), shade=0)  # folds
    p.poly([(770, 690), (710, 720), (710, 690)], (100, 20, 20), shade=0)
    p.poly([(200, 520), (800, 520), (800, 690), (200, 690)], RED, shade=0.35)  # banner
    p.stroke([(240, 545), (760, 545)], (230, 120, 110), 6)
    p.stroke([(240, 665), (760, 665)], (150, 35, 30), 6)


def laurel_wreath(p) -> None:
    for side in (-1, 1):
        p.arc((180, 180, 820, 820), 100 if side < 0 else -80, 260 if side < 0 else 80, DARK_GREEN, 14)
        for k in range(9):
            a = math.radians(100 + k * 18) if side < 0 else math.radians(80 - k * 18)
            x, y = 500 + 320 * math.cos(a), 500 + 320 * math.sin(a)
            tang = math.degrees(a) + 90
            for off in (-1, 1):
                p.ellipse(
                    x + off * 40 * math.cos(a),
                    y + off * 40 * math.sin(a),
                    55,
                    22,
                    GREEN if off < 0 else DARK_GREEN,
                    shade=0.3,
                    rot=tang + off * 35 * side,
                )
    p.poly([(440, 820), (560, 820), (620, 940), (500, 870), (380, 940)], RED, shade=0.25)  # ribbon tie
    p.ellipse(500, 825, 40, 30, (160, 40, 35))
    p.poly(p.star_pts(500, 480, 130, 55), GOLD, shade=0.3)


def pennant(p) -> None:
    p.capsule((170, 120), (170, 900), 30, BROWN)
    p.ellipse(170, 110, 28, 28, GOLD)
    p.poly([(185, 160), (900, 380), (185, 600)], RED, shade=0.35)
    p.poly([(185, 160), (300, 195), (300, 565), (185, 600)], WHITE, shade=0.15)  # stripe by the pole
    for x, y in ((430, 380), (580, 380)):
        p.poly(p.star_pts(x, y, 48, 20), WHITE, shade=0)


def hexagon_badge(p) -> None:
    def hexa(r: float) -> list:
        return [
            (500 + r * math.cos(math.radians(30 + 60 * k)), 500 + r * math.sin(math.radians(30 + 60 * k)))
            for k in range(6)
        ]

    p.poly(hexa(400), DARK_GREEN, shade=0.35)
    p.poly(hexa(340), CREAM, shade=0.2)
    p.poly([(300, 660), (450, 420), (530, 540), (600, 460), (720, 660)], GREEN, shade=0.3)  # hills
    p.capsule((520, 300), (520, 560), 12, INK, shade=0)  # flag pin
    p.poly([(526, 300), (640, 335), (526, 370)], RED, shade=0.2)
    p.rect(260, 660, 740, 730, DARK_GREEN, shade=0.1)


def crossed_clubs(p) -> None:
    for side in (-1, 1):
        top = (500 - side * 300, 140)
        bottom = (500 + side * 280, 820)
        p.capsule(top, (500 - side * 200, 380), 40, INK, shade=0.2)  # grip
        p.capsule(top, bottom, 18, STEEL, shade=0.3)
        p.ellipse(bottom[0] + side * 40, bottom[1] + 30, 85, 40, GREY, shade=0.4, rot=-side * 20)  # club head
    p.ellipse(500, 520, 85, 85, (214, 214, 206), shade=0.5)  # ball in the middle
    for dx, dy in ((-30, -30), (10, -40), (40, -5), (-40, 10), (0, 0), (20, 35), (-15, 40)):
        p.ellipse(500 + dx, 520 + dy, 9, 9, (190, 190, 185), shade=0)
    p.poly([(260, 800), (740, 800), (700, 880), (300, 880)], NAVY, shade=0.2)  # banner under


def mountain_patch(p) -> None:
    p.ellipse(500, 500, 410, 410, (90, 60, 40), shade=0.2)  # stitched border
    p.ellipse(500, 500, 370, 370, (200, 225, 235), shade=0.25)
    for k in range(40):
        a = math.radians(k * 9)
        p.stroke(
            [
                (500 + 385 * math.cos(a), 500 + 385 * math.sin(a)),
                (500 + 395 * math.cos(a + 0.08), 500 + 395 * math.sin(a + 0.08)),
            ],
            CREAM,
            6,
        )
    p.ellipse(650, 330, 60, 60, MUSTARD, shade=0.1)
    p.poly([(150, 700), (400, 300), (620, 700)], (90, 100, 130), shade=0.35)
    p.poly([(400, 300), (340, 400), (380, 380), (420, 410), (450, 380)], WHITE, shade=0)  # snow cap
    p.poly([(420, 700), (640, 400), (860, 700)], (70, 80, 110), shade=0.35)
    p.poly([(640, 400), (600, 455), (640, 440), (670, 455)], WHITE, shade=0)
    p.chord((130, 130, 870, 870), 20, 160, GREEN, shade=0.2)  # meadow along the bottom
    for x in (260, 330, 720):
        p.poly([(x, 580), (x - 45, 740), (x + 45, 740)], DARK_GREEN, shade=0.2)


SUBJECTS = [
    (
        "editorial-spot",
        "figure-at-desk-laptop",
        "person sitting at a desk working on a laptop, mug",
        figure_at_desk,
    ),
    (
        "editorial-spot",
        "hand-holding-phone",
        "hand holding a smartphone, thumb and fingers, screen",
        hand_phone,
    ),
    ("editorial-spot", "city-skyline", "city skyline with tall buildings, windows and sun", city_skyline),
    ("editorial-spot", "potted-plant", "potted plant with big leaves in a terracotta pot", potted_plant),
    ("editorial-spot", "coffee-cup-steam", "coffee cup on a saucer with rising steam", coffee_cup),
    (
        "editorial-spot",
        "bicycle-side-view",
        "bicycle side view with wheels, frame, saddle and handlebar",
        bicycle,
    ),
    ("editorial-spot", "person-walking-dog", "person walking a dog on a leash", person_walking_dog),
    ("editorial-spot", "light-bulb-idea", "light bulb idea with rays, glowing", light_bulb),
    ("badge-emblem", "shield-crest", "heraldic shield crest with chevron and stars", shield_crest),
    ("badge-emblem", "circular-seal", "circular seal emblem with serrated rim and star", circular_seal),
    ("badge-emblem", "banner-ribbon-star", "banner ribbon with folded tails under a star", ribbon_star),
    ("badge-emblem", "laurel-wreath", "laurel wreath of leaves with ribbon tie and star", laurel_wreath),
    ("badge-emblem", "pennant-flag", "pennant flag on a pole with stars", pennant),
    ("badge-emblem", "hexagon-badge", "hexagon badge with hills and golf flag pin", hexagon_badge),
    (
        "badge-emblem",
        "crossed-golf-clubs",
        "crossed golf clubs with golf ball and banner emblem",
        crossed_clubs,
    ),
    (
        "badge-emblem",
        "mountain-patch",
        "round mountain patch with snow peaks, pine trees and sun",
        mountain_patch,
    ),
]
