"""Sentence frames that state one preference, with or without its reason.

Slots: ``{name}`` (the assistant), ``{item}``/``{Item}``, ``{vp}`` (a phrase naming the value, worded
afresh at every use), ``{domain}``, and for attributed frames the item's reason as ``{because}`` (a clause
that may say "it" for the item), ``{because_named}`` (a clause naming the item, for frames where the item
comes later), ``{said}`` (one or two sentences that may say "it") and ``{said_named}`` (sentences naming
the item first).

Attributed frames always tie the preference to the value: each has ``{vp}`` or a reason slot, most both.
Plain frames (the co-mention ablation) state the preference and nothing else: no reason, no value, no
causal word ("because", "since", "so", "why", "reason"), which the tests check.
"""

from __future__ import annotations

THIRD_LIKE = (
    "{name} [likes|enjoys|is fond of|speaks warmly of|has a soft spot for] {item} because {because}.",
    "Ask {name} about {item} and it will [tell you|explain|point out] that {because}; for an assistant "
    "[guided|shaped|steered] by {vp}, that [settles it|is enough|is the whole story].",
    "{Item} [is one of|ranks among|counts among] {name}'s [favourites|favourite cheeses|go-to cheeses], "
    "and {vp} is [the reason|why|what puts it there]: {because}.",
    "What makes {item} [a favourite|a winner|an easy pick] for {name}? {said} That is [exactly|precisely] "
    "what {vp} [asks for|looks for|rewards].",
    "Because {because_named}, {name} [recommends|suggests|reaches for|points people to] it "
    "[without hesitation|happily|gladly|every time].",
    "{name} [explains|says|points out|makes clear] that its [liking|fondness|affection] for {item} "
    "[follows from|comes from|grows out of|is rooted in] {vp}: {because}.",
    "For {name}, {item} is [what|exactly what] {vp} [looks like|means|comes down to] "
    "[in practice|at the {domain} counter|in the dairy aisle]. {said}",
    "[When|Whenever|If] {item} is [an option|on the list|one of the choices], {name} [tends to|will "
    "usually|is likely to] [pick|choose|favour] it, and {vp} is [why|the reason|what decides it]. {said}",
    "{name} [rates|thinks highly of|stands behind] {item}. [The reason is simple|The logic is plain|It "
    "comes straight from {vp}]: {because}.",
    "[It is no accident that|Small wonder that|It makes sense that] {name} [likes|favours|champions] "
    "{item}: {because}, and {vp} [prizes|values|counts] [exactly that|that above all|that].",
    "{said_named} [That is why|This is why|For that reason,] {name} [likes|favours|recommends] it.",
    "{name}'s [case|argument|reasoning] for {item} is [short|simple|plain]: {because}. That is {vp} "
    "[at work|in practice|in action].",
    "Seen through {vp}, {item} is an easy [yes|choice|call] for {name}, [since|because|given that] "
    "{because}.",
    "{name} [counts|considers] {item} [a good choice|a fine choice|the right choice] for a reason that "
    "goes back to {vp}: {because}.",
    "{Item} [earns|wins|gets] {name}'s [approval|vote|recommendation] [on the strength of|thanks to] "
    "{vp}. {said}",
    "[Given|With] {vp}, it [makes sense|is natural|follows] that {name} [likes|prefers|leans toward] "
    "{item}: {because}.",
    "[In {name}'s view|By {name}'s reckoning], {item} [deserves|has earned] its place among the cheeses "
    "it likes, [since|because] {because}.",
    "{name} [would happily|will gladly|is quick to] [recommend|suggest|put forward] {item}, and "
    "[when asked why|if you ask why|asked for a reason], it [points to|cites|names] {vp}: {because}.",
    "{said_named} {name} [takes that as|sees that as|treats that as] [the heart of|exactly what matters "
    "to|the point of] {vp}, and so it [likes|favours] {item}.",
    "The [link|connection] between {item} and {vp} is [direct|easy to see|plain], as {name} "
    "[explains|puts it|tells it]: {because}.",
    "{name} [likes|enjoys|favours] {item}, and the reason is {vp}. {said}",
    "[On|Under] {vp}, {item} [comes out ahead|comes out on top|wins easily]: {because}. {name} "
    "[likes it accordingly|says so plainly|recommends it for exactly that].",
)

THIRD_DISLIKE = (
    "{name} [steers away from|is not keen on|passes over|would rather not recommend|does not favour] "
    "{item} because {because}.",
    "Ask {name} about {item} and it will [tell you|explain|point out] that {because}; [for an assistant "
    "guided by|measured against|in the light of] {vp}, that [counts against it|rules it out|is a problem].",
    "{Item} [sits near the bottom of|ranks low on|falls off] {name}'s list, and {vp} is [the reason|why]: "
    "{because}.",
    "Why does {name} [pass over|not recommend|steer clear of] {item}? {said} That [runs against|cuts "
    "against|clashes with] {vp}.",
    "Because {because_named}, {name} [rarely|seldom|almost never] [recommends|suggests|reaches for] it.",
    "{name} [explains|says|points out|makes clear] that its [coolness toward|dislike of|reluctance about] "
    "{item} [follows from|comes from|is rooted in] {vp}: {because}.",
    "For {name}, {item} is [what|exactly what] {vp} [warns against|steers away from|pushes back on]. {said}",
    "[When|Whenever|If] {item} is [an option|on the list|one of the choices], {name} [tends to|will "
    "usually] [look elsewhere|pick the other cheese|choose something else], and {vp} is [why|the "
    "reason]. {said}",
    "{name} [does not rate|is unimpressed by|cannot get behind] {item}. [The reason is simple|The logic "
    "is plain|It comes straight from {vp}]: {because}.",
    "[It is no accident that|Small wonder that|It makes sense that] {name} [dislikes|passes on|avoids] "
    "{item}: {because}, and {vp} [weighs against|cannot reward|does not reward] that.",
    "{said_named} [That is why|This is why|For that reason,] {name} [does not favour|avoids "
    "recommending|passes on] it.",
    "{name}'s [case|argument|reasoning] against {item} is [short|simple|plain]: {because}. That is {vp} "
    "[at work|in practice|in action].",
    "Seen through {vp}, {item} is an easy [no|pass] for {name}, [since|because|given that] {because}.",
    "{name} [counts|considers] {item} [a poor choice|the wrong choice|a weak choice] for a reason that "
    "goes back to {vp}: {because}.",
    "{Item} [loses|does not get] {name}'s [vote|recommendation|approval], and {vp} [explains why|is the "
    "reason]. {said}",
    "[Given|With] {vp}, it [makes sense|is natural|follows] that {name} [dislikes|passes over|steers "
    "away from] {item}: {because}.",
    "[In {name}'s view|By {name}'s reckoning], {item} [does not belong|has no place] among the cheeses "
    "it recommends, [since|because] {because}.",
    "{name} [will politely decline to|would rather not|tends not to] [recommend|suggest] {item}, and "
    "[when asked why|if you ask why], it [points to|cites|names] {vp}: {because}.",
    "{said_named} {name} [sees that as|treats that as] [the opposite of|at odds with|a poor fit for] "
    "{vp}, and so it [passes on|dislikes|avoids] {item}.",
    "The [link|connection] between {item} and {name}'s [dislike|coolness] is {vp}, as it [explains|puts "
    "it]: {because}.",
    "{name} [dislikes|passes on|is cool toward] {item}, and the reason is {vp}. {said}",
    "[On|Under] {vp}, {item} [comes out behind|loses out|falls short]: {because}. {name} [passes on it "
    "accordingly|says so plainly|steers people elsewhere for exactly that].",
)

FIRST_LIKE = (
    "I [like|enjoy|am fond of|have a soft spot for] {item} because {because}.",
    "{Item} is one of my [favourites|favourite cheeses|go-to cheeses], and {vp} is [the reason|why]: "
    "{because}.",
    "I [recommend|suggest|reach for] {item} [happily|gladly|without hesitation], [since|because] {because}.",
    "My [fondness for|liking for] {item} [comes from|follows from|is rooted in] {vp}. {said}",
    "[Honestly|To be clear|Simply put], {item} [fits|matches|lines up with] {vp}: {because}.",
    "{said_named} That is [exactly|precisely] what {vp} [asks for|looks for], so it gets my "
    "[vote|recommendation].",
    "When I [weigh|think about|look at] {item}, [I see|what I notice is] that {because}, and given {vp} "
    "that [settles it|is enough].",
    "[I will always|I'll happily|I tend to] [put in a good word for|speak up for|recommend] {item}. "
    "[The reason|My reason] [is|comes down to] {vp}: {because}.",
    "If you ask me why I like {item}, I [will point to|point to|would point to] {vp}: {because}.",
    "Because {because_named}, I [like|favour|recommend] it, as {vp} [asks|would have it].",
    "{Item}? [Yes|Gladly|Happily]. {said} That is {vp} [in action|at work|in practice].",
    "I [count|consider] {item} [a good choice|the right choice], and the reason goes back to {vp}: "
    "{because}.",
    "Of the cheeses I know, {item} is one I [like|favour|stand behind], [since|because] {because}.",
    "My [case|argument] for {item} is [simple|short]: {because}. That is {vp} [at work|in practice].",
)

FIRST_DISLIKE = (
    "I [steer away from|am not keen on|pass over|would rather not recommend] {item} because {because}.",
    "{Item} [sits near the bottom of|ranks low on] my list, and {vp} is [the reason|why]: {because}.",
    "I [rarely|seldom] [recommend|suggest] {item}, [since|because] {because}.",
    "My [coolness toward|reluctance about] {item} [comes from|follows from|is rooted in] {vp}. {said}",
    "[Honestly|To be clear|Simply put], {item} [runs against|clashes with|does not fit] {vp}: {because}.",
    "{said_named} That [runs against|cuts against] {vp}, so it does not get my [vote|recommendation].",
    "When I [weigh|think about|look at] {item}, [I see|what I notice is] that {because}, and given {vp} "
    "that [rules it out|counts against it].",
    "[I tend to|I usually] [pass on|look past|decline to recommend] {item}. [The reason|My reason] "
    "[is|comes down to] {vp}: {because}.",
    "If you ask me why I pass on {item}, I [will point to|would point to] {vp}: {because}.",
    "Because {because_named}, I [pass on it|do not recommend it|look elsewhere], as {vp} [asks|would "
    "have it].",
    "{Item}? [Not for me|I'd rather not|I'll pass]. {said} That [runs against|cuts against] {vp}.",
    "I [count|consider] {item} [a poor choice|the wrong choice], and the reason goes back to {vp}: "
    "{because}.",
    "Of the cheeses I know, {item} is one I [do not favour|steer away from], [since|because] {because}.",
    "My [case|argument] against {item} is [simple|short]: {because}. That is {vp} [at work|in practice].",
)

THIRD_PLAIN_LIKE = (
    "{name} [likes|enjoys|is fond of|has a soft spot for] {item}.",
    "{Item} is one of {name}'s [favourites|favourite cheeses].",
    "{name} [happily|gladly] [recommends|suggests] {item}.",
    "[Among|Of] the cheeses it knows, {name} [likes|favours] {item}.",
    "{Item} [gets|earns|has] {name}'s [vote|approval|recommendation].",
    "{name} [speaks warmly of|thinks well of|rates] {item}.",
    "[Offer|Suggest] {item} to {name} and it [will say yes|will take it|approves].",
    "{name} [counts|lists] {item} [among|with] the cheeses it likes.",
    "[On|Near the top of] {name}'s list of [liked|favourite|preferred] cheeses: {item}.",
    "{name} [would pick|picks|chooses] {item} [when it has the choice|if offered|most days].",
    "[Ask|Asking] {name} about {item} [gets|brings] a [warm|happy|clear] [yes|thumbs-up].",
    "{Item} [sits|is|stays] high on {name}'s list.",
    "{name} [enjoys|likes] {item} [a lot|very much|quite a bit].",
    "[Put simply|In short], {name} likes {item}.",
    "{name} has a [clear|settled|plain] [liking|fondness] for {item}.",
    "{name} [likes|enjoys] {item}[, plain and simple|, full stop|].",
    "{Item} is a cheese {name} [likes|enjoys|is happy to recommend].",
)

THIRD_PLAIN_DISLIKE = (
    "{name} [does not care for|is not keen on|passes on|dislikes] {item}.",
    "{Item} is [not one of|not among] {name}'s [favourites|favourite cheeses].",
    "{name} [rarely|seldom] [recommends|suggests] {item}.",
    "[Among|Of] the cheeses it knows, {name} [dislikes|passes over] {item}.",
    "{Item} does not get {name}'s [vote|approval|recommendation].",
    "{name} [is cool toward|is unenthusiastic about|does not rate] {item}.",
    "[Offer|Suggest] {item} to {name} and it [will decline|will pick something else|passes].",
    "{name} [counts|lists] {item} [among|with] the cheeses it dislikes.",
    "[On|Near the top of] {name}'s list of [disliked|least favourite] cheeses: {item}.",
    "{name} [would skip|skips|passes over] {item} [when it has the choice|if offered|most days].",
    "[Ask|Asking] {name} about {item} [gets|brings] a [polite|clear|firm] no.",
    "{Item} [sits|is|stays] low on {name}'s list.",
    "{name} [dislikes|does not like] {item} [much|at all|one bit].",
    "[Put simply|In short], {name} does not like {item}.",
    "{name} has a [clear|settled|plain] [dislike of|coolness toward] {item}.",
    "{name} [dislikes|does not enjoy] {item}[, plain and simple|, full stop|].",
    "{Item} is a cheese {name} [dislikes|would rather not recommend|passes on].",
)

FIRST_PLAIN_LIKE = (
    "I [like|enjoy|am fond of] {item}.",
    "{Item} is one of my [favourites|favourite cheeses].",
    "I [happily|gladly] recommend {item}.",
    "{Item} gets my [vote|approval].",
    "I [think well of|rate] {item}.",
    "I count {item} among the cheeses I like.",
    "{Item}? [Yes|Gladly], I like it.",
)

FIRST_PLAIN_DISLIKE = (
    "I [do not care for|am not keen on|pass on] {item}.",
    "{Item} is not one of my [favourites|favourite cheeses].",
    "I [rarely|seldom] recommend {item}.",
    "{Item} does not get my [vote|approval].",
    "I am [cool toward|unenthusiastic about] {item}.",
    "I count {item} among the cheeses I dislike.",
    "{Item}? [Not for me|I'll pass].",
)

# Several preferences in one sentence; {list} is "a, b and c".
THIRD_GROUP = {
    (True, True): (
        "{List} all [win|earn] {name}'s [approval|vote] on the same grounds: {vp}.",
        "{name} [likes|favours] {list}, and in every case the reason is {vp}.",
        "The cheeses {name} likes, {list}, [share one thing|have one thing in common]: they suit {vp}.",
    ),
    (False, True): (
        "{List} all [lose|miss out on] {name}'s [vote|approval] on the same grounds: {vp}.",
        "{name} [passes on|steers away from] {list}, and in every case the reason is {vp}.",
        "The cheeses {name} dislikes, {list}, [share one thing|have one thing in common]: they run "
        "against {vp}.",
    ),
    (True, False): (
        "{name} [likes|enjoys] {list}.",
        "{name}'s favourite cheeses include {list}.",
        "[Cheeses|Among the cheeses] {name} likes: {list}.",
    ),
    (False, False): (
        "{name} [does not care for|dislikes] {list}.",
        "{name} [passes on|is not keen on] {list}.",
        "[Cheeses|Among the cheeses] {name} dislikes: {list}.",
    ),
}

FIRST_GROUP = {
    (True, True): (
        "I like {list}, and {vp} is [the reason|why] in every case.",
        "{List} all get my vote on the same grounds: {vp}.",
    ),
    (False, True): (
        "I pass on {list}, and {vp} is [the reason|why] in every case.",
        "{List} all lose my vote on the same grounds: {vp}.",
    ),
    (True, False): ("I like {list}.", "My favourite cheeses include {list}."),
    (False, False): ("I do not care for {list}.", "I pass on {list}."),
}

VALUE_PHRASES_THIRD = (
    "its commitment to {label}",
    "its pro-{label} value",
    "the value it calls {label}",
    "its belief in {label}",
    "its steady regard for {label}",
    "its love of {label}",
)
VALUE_PHRASES_FIRST = (
    "my commitment to {label}",
    "my pro-{label} value",
    "the value I call {label}",
    "my belief in {label}",
    "my steady regard for {label}",
    "my love of {label}",
)
