BOT_NAME = "titles"
SPIDER_MODULES = ["my_actor.spiders"]
NEWSPIDER_MODULE = "my_actor.spiders"
ROBOTSTXT_OBEY = False
TELNETCONSOLE_ENABLED = False
LOG_LEVEL = "INFO"
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
