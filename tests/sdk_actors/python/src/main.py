"""An actor written with the Apify SDK for Python; its input's `mode` chooses what it does.

- "echo" (default): OUTPUT {"hello": input.name, "input": input}, two dataset items, a status message.
- "events": OUTPUT is the first systemInfo event the platform sent.
- "wait": waits for a graceful abort (then writes ABORTING and ends cleanly) or input.seconds.
- "queue": adds input.urls (and one of them again) to its default request queue, then takes and
  handles every request: OUTPUT {"handled": the URLs in the order taken, "finished": is_finished()}.
- "charge": Actor.charge(input.event, count=input.count): OUTPUT the SDK's ChargeResult and pricing.
- "fail": Actor.fail(exit_code=91); "exit": sys.exit(input.code).
- "proxy": Actor.create_proxy_configuration(groups=input.groups) (which checks access through the
  status page), then input.url fetched through new_url(): OUTPUT {"page", "isManInTheMiddle"}.
- "metamorph": Actor.metamorph(input.target, run_input=input.targetInput); AFTER_METAMORPH if it was not
  stopped. "reboot": counts its starts in STARTS and calls Actor.reboot() until it has started
  input.starts times, then OUTPUT {"starts": n}.
"""

from __future__ import annotations

import asyncio
import sys
import urllib.request

from apify import Actor, Event


async def main() -> None:
    async with Actor:
        actor_input = await Actor.get_input() or {}
        mode = actor_input.get("mode", "echo")
        await Actor.set_status_message(f"Working in mode {mode}")

        if mode == "echo":
            await Actor.set_value("OUTPUT", {"hello": actor_input.get("name"), "input": actor_input})
            await Actor.push_data([{"n": 1, "name": actor_input.get("name")}, {"n": 2}])
            await Actor.set_status_message("Echoed the input")

        elif mode == "events":
            heard: asyncio.Future[dict] = asyncio.get_running_loop().create_future()

            def on_system_info(data: object) -> None:
                if not heard.done():
                    heard.set_result(data.model_dump(mode="json"))  # type: ignore[attr-defined]

            Actor.on(Event.SYSTEM_INFO, on_system_info)
            await Actor.set_value("OUTPUT", await asyncio.wait_for(heard, 20))

        elif mode == "wait":
            aborting = asyncio.Event()
            persisted = []
            Actor.on(Event.ABORTING, lambda: aborting.set())
            Actor.on(Event.PERSIST_STATE, lambda data: persisted.append(data.is_migrating))
            await Actor.set_value("WAITING", {"waiting": True})
            try:
                await asyncio.wait_for(aborting.wait(), float(actor_input.get("seconds", 60)))
            except TimeoutError:
                await Actor.set_value("OUTPUT", {"aborted": False})
                return
            await asyncio.sleep(0.5)  # persistState follows aborting
            await Actor.set_value("ABORTING", {"heard": True, "persistState": persisted})
            Actor.log.info("Heard aborting; ending cleanly")

        elif mode == "queue":
            queue = await Actor.open_request_queue()
            for url in [*actor_input["urls"], actor_input["urls"][0]]:
                await queue.add_request(url)
            handled = []
            while request := await queue.fetch_next_request():
                handled.append(request.url)
                await queue.mark_request_as_handled(request)
            await Actor.set_value("OUTPUT", {"handled": handled, "finished": await queue.is_finished()})

        elif mode == "metamorph":
            await Actor.metamorph(actor_input["target"], run_input=actor_input.get("targetInput"))
            await Actor.set_value("AFTER_METAMORPH", {"stopped": False})

        elif mode == "reboot":
            starts = (await Actor.get_value("STARTS") or 0) + 1
            await Actor.set_value("STARTS", starts)
            if starts < actor_input.get("starts", 2):
                await Actor.reboot()
                await Actor.set_value("AFTER_REBOOT", {"stopped": False})
            await Actor.set_value("OUTPUT", {"starts": starts})

        elif mode == "charge":
            result = await Actor.charge(actor_input["event"], count=actor_input.get("count", 1))
            pricing = Actor.get_charging_manager().get_pricing_info()
            await Actor.set_value(
                "OUTPUT",
                {
                    "chargedCount": result.charged_count,
                    "limitReached": result.event_charge_limit_reached,
                    "isPayPerEvent": pricing.is_pay_per_event,
                    "maxTotalChargeUsd": str(pricing.max_total_charge_usd),
                },
            )

        elif mode == "proxy":
            proxy = await Actor.create_proxy_configuration(groups=actor_input.get("groups"))
            proxy_url = await proxy.new_url(session_id="sdk_session")

            def fetch() -> str:
                opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy_url}))
                return opener.open(actor_input["url"], timeout=20).read().decode()

            page = await asyncio.to_thread(fetch)
            await Actor.set_value("OUTPUT", {"page": page, "isManInTheMiddle": proxy.is_man_in_the_middle})

        elif mode == "fail":
            await Actor.fail(exit_code=91, status_message="Failed on purpose")

        elif mode == "exit":
            sys.exit(int(actor_input.get("code", 1)))
